#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How much memory this process may still allocate: the tightest of physical memory, the
/// address-space limit (`ulimit -v`, RLIMIT_AS, less what the process already maps) and the
/// cgroup memory limit (`memory.max` of cgroup v2 or `memory.limit_in_bytes` of v1, less
/// what the group already uses). Readers check size claims against it before allocating,
/// and losscli checks an evaluation's estimated needs against it before computing.
public struct MemoryBudget: Equatable, Sendable, CustomStringConvertible {
    public var physical: UInt64
    /// RLIMIT_AS's soft limit and the process's current virtual size; nil limit: unlimited.
    public var addressSpaceLimit: UInt64?
    public var addressSpaceUsed: UInt64
    /// The tightest memory limit of this process's cgroup and its ancestors, and its usage.
    public var cgroupLimit: UInt64?
    public var cgroupUsed: UInt64

    public init(physical: UInt64, addressSpaceLimit: UInt64? = nil, addressSpaceUsed: UInt64 = 0,
                cgroupLimit: UInt64? = nil, cgroupUsed: UInt64 = 0) {
        self.physical = physical
        self.addressSpaceLimit = addressSpaceLimit
        self.addressSpaceUsed = addressSpaceUsed
        self.cgroupLimit = cgroupLimit
        self.cgroupUsed = cgroupUsed
    }

    /// What may still be allocated, in bytes.
    public var available: UInt64 {
        var a = physical
        if let l = addressSpaceLimit { a = min(a, l > addressSpaceUsed ? l - addressSpaceUsed : 0) }
        if let l = cgroupLimit { a = min(a, l > cgroupUsed ? l - cgroupUsed : 0) }
        return a
    }

    /// Which limit decides, for messages: "4.7 GB available under the address-space limit
    /// (ulimit -v) of 5.0 GB".
    public var description: String {
        let a = available
        if let l = addressSpaceLimit, a == (l > addressSpaceUsed ? l - addressSpaceUsed : 0), a < physical {
            return "\(Self.text(a)) available under the address-space limit (ulimit -v) of \(Self.text(l))"
        }
        if let l = cgroupLimit, a == (l > cgroupUsed ? l - cgroupUsed : 0), a < physical {
            return "\(Self.text(a)) available under the cgroup memory limit of \(Self.text(l))"
        }
        return "\(Self.text(physical)) of physical memory"
    }

    /// Bytes as "5.0 GB" (decimal, one digit; "0.4 MB" style below 0.1 GB).
    public static func text(_ bytes: UInt64) -> String {
        let gb = Double(bytes) / 1e9
        if gb >= 0.1 || bytes == 0 { return formatted(gb, "GB") }
        return formatted(Double(bytes) / 1e6, "MB")
    }

    private static func formatted(_ v: Double, _ unit: String) -> String {
        let tenths = (v * 10).rounded()
        return "\(Int(tenths) / 10).\(Int(tenths) % 10) \(unit)"
    }

    /// The budget of this process now.
    public static func current() -> MemoryBudget {
        let page = UInt64(max(1, sysconf(Int32(_SC_PAGESIZE))))
        let pages = UInt64(max(0, sysconf(Int32(_SC_PHYS_PAGES))))
        var budget = MemoryBudget(physical: pages &* page)
        var limit = rlimit()
        if getrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max {
            budget.addressSpaceLimit = UInt64(limit.rlim_cur)
            // /proc/self/statm: the first field is the virtual size in pages.
            if let statm = readKernelText("/proc/self/statm"), let size = statm.split(separator: " ").first.flatMap({ UInt64($0) }) {
                budget.addressSpaceUsed = size &* page
            }
        }
        (budget.cgroupLimit, budget.cgroupUsed) = cgroupMemory()
        return budget
    }

    /// The tightest limit along this process's cgroup path, and the usage of the group that has it.
    private static func cgroupMemory() -> (UInt64?, UInt64) {
        guard let membership = readKernelText("/proc/self/cgroup") else { return (nil, 0) }
        var best: (limit: UInt64, used: UInt64)? = nil
        func consider(_ limitFile: String, _ usageFile: String) {
            guard let text = readKernelText(limitFile) else { return }
            let t = text.trimmingWhitespace
            // "max" (v2) or an enormous number (v1's "unlimited") mean no limit.
            guard let l = UInt64(t), l < (1 << 60) else { return }
            let used = readKernelText(usageFile).flatMap { UInt64($0.trimmingWhitespace) } ?? 0
            if best.map({ l < $0.limit }) ?? true { best = (l, used) }
        }
        for line in membership.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            let path = String(parts[2])
            let v2 = parts[0] == "0" && parts[1].isEmpty
            let v1 = parts[1].split(separator: ",").contains("memory")
            guard v2 || v1 else { continue }
            let root = v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/memory"
            let (limitName, usageName) = v2 ? ("memory.max", "memory.current") : ("memory.limit_in_bytes", "memory.usage_in_bytes")
            // The group and each ancestor (a container sees its own group as the root).
            var components = path.split(separator: "/").map(String.init)
            while true {
                let dir = root + (components.isEmpty ? "" : "/" + components.joined(separator: "/"))
                consider(dir + "/" + limitName, dir + "/" + usageName)
                if components.isEmpty { break }
                components.removeLast()
            }
        }
        return (best?.limit, best?.used ?? 0)
    }

    /// A small kernel-made text file (/proc, /sys), read whole (at most 64 KiB).
    static func readKernelText(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 1 << 16 {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            bytes += chunk[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension String {
    var trimmingWhitespace: String {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return String(s)
    }
}
