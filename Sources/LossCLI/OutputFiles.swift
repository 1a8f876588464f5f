import Foundation
#if canImport(Glibc)
import Glibc
#endif
import NpyIO

/// The `.npz` files `eval` writes (`--grad-out`, `--values-out`). Everything that can be
/// known about them is checked before any computation, so that a typo or a clash costs no
/// time and leaves nothing behind; then they are written all or nothing.
struct OutputFiles {
    var gradOut: String?
    var valuesOut: String?

    var requested: [(path: String, option: String)] {
        [(gradOut, "--grad-out"), (valuesOut, "--values-out")].compactMap { p, o in p.map { ($0, o) } }
    }

    /// Before reading inputs: each name ends in `.npz`, is not a directory, can be created in
    /// its folder (a temporary is made there and removed), and the two are not one file —
    /// by resolved path (`alias/same.npz` with `alias -> .` is `same.npz`), and by device and
    /// inode where the file already exists (a hard or symbolic link to the other).
    func validate() throws {
        for (path, option) in requested {
            guard path.lowercased().hasSuffix(".npz") else {
                throw CLIError("\(option) \(path): expected a file name ending in .npz")
            }
            var info = stat()
            if stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR {
                throw CLIError("\(option) \(path): is a directory")
            }
            let folder = Self.folder(of: path)
            var folderInfo = stat()
            guard stat(folder, &folderInfo) == 0, folderInfo.st_mode & S_IFMT == S_IFDIR else {
                throw CLIError("\(option) \(path): folder \(folder) does not exist")
            }
            do {
                try PendingFile.probe(path)
            } catch {
                throw CLIError("\(option) \(path): cannot create a file in folder \(folder): \(Self.reason(error))")
            }
        }
        if let gradOut, let valuesOut {
            let a = Self.resolved(gradOut), b = Self.resolved(valuesOut)
            var sa = stat(), sb = stat()
            let sameInode = stat(gradOut, &sa) == 0 && stat(valuesOut, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
            if a == b || sameInode {
                let how = gradOut == valuesOut ? "" : " (\(gradOut) and \(valuesOut) are both \(a == b ? a : "the same file"))"
                throw CLIError("--grad-out and --values-out name the same file\(how): give two different files")
            }
        }
    }

    /// Before computing, once the program knows its terms and gradient entries: every key the
    /// files will hold is unique and fits in a ZIP member name. Term and input names may
    /// contain `/`, so `total/x` + `y` and `total` + `x/y` would both be `total/x/y`.
    func checkKeys(gradients: [(key: String, inputs: [String])], terms: [String]) throws {
        if let gradOut {
            var seen: [String: String] = [:]
            for (owner, inputs) in gradients {
                for input in inputs {
                    let key = "\(owner)/\(input)"
                    let pair = "the gradient of \"\(owner)\" with respect to \"\(input)\""
                    if let other = seen[key], other != pair {
                        throw CLIError("--grad-out \(gradOut): \(other) and \(pair) would both be stored under the key \"\(key)\" (term and input names may contain '/'); rename a term or an input")
                    }
                    seen[key] = pair
                }
            }
            try checkLengths(Array(seen.keys), path: gradOut, option: "--grad-out")
        }
        if let valuesOut { try checkLengths(terms, path: valuesOut, option: "--values-out") }
    }

    private func checkLengths(_ keys: [String], path: String, option: String) throws {
        do {
            try NpzArchive.checkKeys(keys, path: nil)
        } catch {
            throw CLIError("\(option) \(path): \(error.message)")
        }
    }

    /// Writes the files all or nothing: each is written in full under a temporary name next
    /// to it, and only when every one was written are they renamed into place. A failure, or
    /// SIGTERM/SIGINT/SIGHUP meanwhile, removes the temporaries.
    func write(gradients: [(String, NpyArray)], values: [(String, NpyArray)]) throws {
        var pending: [PendingFile] = []
        for (path, option) in requested {
            do {
                pending.append(try NpzArchive.writePending(path == gradOut ? gradients : values, path: path, compressed: false))
            } catch {
                pending.forEach { $0.discard() }
                throw CLIError("\(option) \(path): cannot write: \(Self.reason(error))")
            }
        }
        TestBarrier.reach("outputs-written")
        for (i, file) in pending.enumerated() {
            do {
                try file.commit()
            } catch {
                pending[i...].forEach { $0.discard() }
                throw CLIError("cannot write \(file.path): \(Self.reason(error))")
            }
        }
    }

    private static func reason(_ error: Error) -> String {
        guard let e = error as? NpyError else { return "\(error)" }
        if case let .cannotCreate(reason) = e.kind { return reason }
        return e.message
    }

    static func folder(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// The absolute path with the folder's symbolic links resolved (the file itself need not exist).
    static func resolved(_ path: String) -> String {
        let name = path.lastIndex(of: "/").map { String(path[path.index(after: $0)...]) } ?? path
        guard let real = realpath(folder(of: path), nil) else { return path }
        defer { free(real) }
        let dir = String(cString: real)
        return (dir == "/" ? "" : dir) + "/" + name
    }
}

/// Test-only synchronisation points of the built binary, so tests of what happens during a
/// run (a file truncated while mapped, a signal while outputs are written) are deterministic
/// rather than timed. Active only when `LOSSCLI_TEST_BARRIER` names a folder holding
/// `POINT.armed`: at `point` the process then creates `POINT.ready` there and waits (at
/// most 60 s) until `POINT.go` appears.
enum TestBarrier {
    static func reach(_ point: String) {
        guard let folder = ProcessInfo.processInfo.environment["LOSSCLI_TEST_BARRIER"], !folder.isEmpty,
              access("\(folder)/\(point).armed", F_OK) == 0 else { return }
        _ = FileManager.default.createFile(atPath: "\(folder)/\(point).ready", contents: nil)
        let go = "\(folder)/\(point).go"
        for _ in 0..<60_000 where access(go, F_OK) != 0 { usleep(1000) }
    }
}
