/// A plain-text table for terminals: a header row, a rule, and left-aligned columns
/// (numbers right-aligned), two spaces apart.
struct TextTable {
    var header: [String]
    var rows: [[String]] = []
    /// Columns whose cells are right-aligned (numbers).
    var numericColumns: Set<Int> = []

    init(_ header: [String], numericColumns: Set<Int> = []) {
        self.header = header
        self.numericColumns = numericColumns
    }

    mutating func append(_ row: [String]) { rows.append(row) }

    func render() -> String {
        let columns = ([header] + rows).map(\.count).max() ?? 0
        var widths = Array(repeating: 0, count: columns)
        for row in [header] + rows {
            for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) }
        }
        func line(_ row: [String]) -> String {
            var parts: [String] = []
            for i in 0..<columns {
                let cell = i < row.count ? row[i] : ""
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                parts.append(numericColumns.contains(i) ? pad + cell : cell + pad)
            }
            // No trailing blanks: the last column is not padded on the right.
            var text = parts.joined(separator: "  ")
            while text.last == " " { text.removeLast() }
            return text
        }
        let rule = widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")
        return ([line(header), rule] + rows.map(line)).joined(separator: "\n") + "\n"
    }
}
