import Foundation
#if canImport(Glibc)
import Glibc
#endif
import LossKit
import NpyIO
import TensorIO

/// Where a loss's pretrained network weights are (`pretrained`, `facenet.ir_se50_weights`,
/// `clip_model.pretrained`): a file the user names, or one of MMagic's defaults, which is
/// the file PyTorch's tools cache when they download it. losscli never downloads: a default
/// that is not there is an error saying where to put it.
enum WeightSource: Equatable {
    /// A path, relative to the config file's folder like the config's `inputs`.
    case path(String)
    /// `torchvision://NAME`: torchvision's `NAME(weights=IMAGENET1K_V1)`, as mmengine loads it.
    case torchvision(String)
    /// An http(s) URL, cached by `torch.hub.load_state_dict_from_url` (ArcFace's default).
    case torchHub(url: String)
    /// A name of `clip.available_models()`, cached by `clip.load`.
    case clip(String)

    /// The file names torchvision gives `vggNN(weights=IMAGENET1K_V1)` (their URLs'
    /// basenames; read from torchvision's weight enums).
    static let torchvisionVGG: KeyValuePairs<String, String> = [
        "vgg11": "vgg11-8a719046.pth", "vgg13": "vgg13-19584684.pth",
        "vgg16": "vgg16-397923af.pth", "vgg19": "vgg19-dcbb9e9d.pth",
        "vgg11_bn": "vgg11_bn-6002323d.pth", "vgg13_bn": "vgg13_bn-abd245e5.pth",
        "vgg16_bn": "vgg16_bn-6c64b313.pth", "vgg19_bn": "vgg19_bn-c79401a0.pth",
    ]
    static let torchvisionURLBase = "https://download.pytorch.org/models/"

    /// MMagic's ArcFace default (`IDLossModel._ir_se50_url`), used when `ir_se50_weights` is None.
    static let arcFaceURL = "https://download.openxlab.org.cn/models/rangoliu/Arcface-IR-SE50/weight/Arcface-IR-SE50"
    static let arcFace = WeightSource.torchHub(url: arcFaceURL)

    /// `clip._MODELS`: each name's URL; `clip.load` caches it under its basename.
    static let clipModels: KeyValuePairs<String, String> = [
        "RN50": "https://openaipublic.azureedge.net/clip/models/afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762/RN50.pt",
        "RN101": "https://openaipublic.azureedge.net/clip/models/8fa8567bab74a42d41c5915025a8e4538c3bdbe8804a470a72f30b0d94fab599/RN101.pt",
        "RN50x4": "https://openaipublic.azureedge.net/clip/models/7e526bd135e493cef0776de27d5f42653e6b4c8bf9e0f653bb11773263205fdd/RN50x4.pt",
        "RN50x16": "https://openaipublic.azureedge.net/clip/models/52378b407f34354e150460fe41077663dd5b39c54cd0bfd2b27167a4a06ec9aa/RN50x16.pt",
        "RN50x64": "https://openaipublic.azureedge.net/clip/models/be1cfb55d75a9666199fb2206c106743da0f6468c9d327f3e0d0a543a9919d9c/RN50x64.pt",
        "ViT-B/32": "https://openaipublic.azureedge.net/clip/models/40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt",
        "ViT-B/16": "https://openaipublic.azureedge.net/clip/models/5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f/ViT-B-16.pt",
        "ViT-L/14": "https://openaipublic.azureedge.net/clip/models/b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt",
        "ViT-L/14@336px": "https://openaipublic.azureedge.net/clip/models/3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02/ViT-L-14-336px.pt",
    ]

    /// Reads a weight parameter's string: `torchvision://vggNN`, an http(s) URL, or a path.
    /// Other `SCHEME://` names (mmengine's `open-mmlab://`, `s3://`...) are refused: losscli
    /// reads local files only. `parameter` names the config key in messages.
    static func parse(_ value: String, parameter: String) throws -> WeightSource {
        guard !value.isEmpty else { throw CLIError("\(parameter): expected a path to a weight file, found an empty string") }
        if value.hasPrefix("torchvision://") {
            let name = String(value.dropFirst("torchvision://".count))
            guard torchvisionVGG.contains(where: { $0.key == name }) else {
                throw CLIError("\(parameter): \"\(value)\": losscli knows torchvision's VGG weights only (\(torchvisionVGG.map { "torchvision://\($0.key)" }.joined(separator: ", "))); give the path of the file otherwise")
            }
            return .torchvision(name)
        }
        if value.hasPrefix("http://") || value.hasPrefix("https://") {
            guard !hubFileName(value).isEmpty else {
                throw CLIError("\(parameter): \"\(value)\": the URL names no file; give the path of the weight file")
            }
            return .torchHub(url: value)
        }
        if let scheme = value.range(of: "://"), !value[..<scheme.lowerBound].contains("/") {
            throw CLIError("\(parameter): \"\(value)\": losscli reads local files only: download it and give its path")
        }
        return .path(value)
    }

    /// `clip_type` when `clip_model.pretrained` is not given.
    static func clip(type: String, parameter: String) throws -> WeightSource {
        guard clipModels.contains(where: { $0.key == type }) else {
            throw CLIError("\(parameter): \"\(type)\" is not a CLIP model; expected one of \(clipModels.map(\.key).joined(separator: ", "))")
        }
        return .clip(type)
    }

    /// The file torch.hub stores a URL's download as: the basename of its path.
    static func hubFileName(_ url: String) -> String {
        var rest = Substring(url)
        if let scheme = rest.range(of: "://") { rest = rest[scheme.upperBound...] }
        if let end = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) { rest = rest[..<end] }
        guard let slash = rest.firstIndex(of: "/") else { return "" }
        let path = rest[slash...]
        return path.lastIndex(of: "/").map { String(path[path.index(after: $0)...]) } ?? ""
    }

    /// Where this source's file is, and for a default, what to put there if it is missing.
    func location(parameter: String, configDirectory: String?, environment: [String: String]) -> (path: String, download: String?) {
        let instead = "or give `\(parameter)` a path"
        switch self {
        case let .path(p):
            return (ConfigPath.resolve(p, against: configDirectory), nil)
        case let .torchvision(name):
            let file = Self.torchvisionVGG.first { $0.key == name }?.value ?? name
            return (TorchCache.join(TorchCache.hubCheckpoints(environment), file),
                    "download torchvision's \(name.uppercased()) weights there (\(Self.torchvisionURLBase)\(file)) \(instead)")
        case let .torchHub(url):
            let what = url == Self.arcFaceURL ? "MMagic's ArcFace IR-SE-50 weights (\(url))" : url
            return (TorchCache.join(TorchCache.hubCheckpoints(environment), Self.hubFileName(url)),
                    "download \(what) there \(instead)")
        case let .clip(name):
            let url = Self.clipModels.first { $0.key == name }?.value ?? name
            return (TorchCache.join(TorchCache.expandUser("~/.cache/clip", environment), Self.hubFileName(url)),
                    "download OpenAI's CLIP \(name) weights there (\(url)) \(instead)")
        }
    }

    /// The weight file's path, checked to be a readable regular file: a missing default names
    /// the path looked at and what to put there; a missing path of the user's is "no such file".
    func file(parameter: String, configDirectory: String?, environment: [String: String]) throws -> String {
        let (path, download) = location(parameter: parameter, configDirectory: configDirectory, environment: environment)
        if let download {
            var info = stat(), link = stat()
            if stat(path, &info) != 0, errno == ENOENT, lstat(path, &link) != 0 {
                throw CLIError("\(parameter): \(path) does not exist: \(download)")
            }
        }
        try requireFile(path, context: "\(parameter): weight file ")
        return path
    }

    /// The weights of `value` (a parameter's string), read once per process (`WeightCache`):
    /// the whole file's keys; a network takes its own with `unwrapped()` and `scope(_:)`.
    static func load(value: String, parameter: String, configDirectory: String?, environment: [String: String],
                     cache: WeightCache = .shared) throws -> StateDict {
        try parse(value, parameter: parameter).load(parameter: parameter, configDirectory: configDirectory,
                                                     environment: environment, cache: cache)
    }

    func load(parameter: String, configDirectory: String?, environment: [String: String],
              cache: WeightCache = .shared) throws -> StateDict {
        try cache.stateDict(at: file(parameter: parameter, configDirectory: configDirectory, environment: environment))
    }
}

/// PyTorch's cache folders, by torch/hub.py's rules (`_get_torch_home`, `get_dir`) with the
/// environment given rather than the process's: `$TORCH_HOME`, else `$XDG_CACHE_HOME/torch`,
/// else `~/.cache/torch`, then `~` expanded. Like Python's `os.getenv`, a variable set to the
/// empty string counts as set (`TORCH_HOME=` gives `hub/checkpoints`, relative to the
/// current folder, as torch does).
enum TorchCache {
    static func torchHome(_ environment: [String: String]) -> String {
        expandUser(environment["TORCH_HOME"] ?? join(environment["XDG_CACHE_HOME"] ?? "~/.cache", "torch"), environment)
    }

    /// `$TORCH_HOME/hub/checkpoints`, where `load_state_dict_from_url` stores downloads.
    static func hubCheckpoints(_ environment: [String: String]) -> String {
        join(join(torchHome(environment), "hub"), "checkpoints")
    }

    /// `os.path.join(a, b)` for a relative `b`.
    static func join(_ a: String, _ b: String) -> String {
        a.isEmpty || a.hasSuffix("/") ? a + b : a + "/" + b
    }

    /// `os.path.expanduser`: a leading `~` is `$HOME` (the password database's home when HOME
    /// is not set), `~name` that user's home; unchanged when there is no such user.
    static func expandUser(_ path: String, _ environment: [String: String]) -> String {
        guard path.hasPrefix("~") else { return path }
        let end = path.dropFirst().firstIndex(of: "/") ?? path.endIndex
        let name = String(path[path.index(after: path.startIndex)..<end])
        var home: String
        if name.isEmpty {
            if let h = environment["HOME"] {
                home = h
            } else if let entry = getpwuid(getuid()), let dir = entry.pointee.pw_dir {
                home = String(cString: dir)
            } else {
                return path
            }
        } else if let entry = getpwnam(name), let dir = entry.pointee.pw_dir {
            home = String(cString: dir)
        } else {
            return path
        }
        while home.hasSuffix("/") { home.removeLast() }
        let result = home + path[end...]
        return result.isEmpty ? "/" : result
    }
}

/// The weight files read by this process, each once: every loss term that names the same
/// file (by device and inode, so through any link or relative path) shares its `StateDict`,
/// and with it each tensor's conversion.
final class WeightCache: @unchecked Sendable {
    static let shared = WeightCache()

    private struct FileID: Hashable { var device: UInt64; var inode: UInt64 }
    private let lock = NSLock()
    private var files: [FileID: StateDict] = [:]
    private var readCount = 0

    /// How many files were read (for tests).
    var reads: Int {
        lock.lock()
        defer { lock.unlock() }
        return readCount
    }

    /// The weights of the regular file at `path` (checked by the caller), read the first time.
    func stateDict(at path: String) throws -> StateDict {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw CLIError("weight file \(path): \(String(cString: strerror(errno)))")
        }
        let id = FileID(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
        lock.lock()
        defer { lock.unlock() }
        if let sd = files[id] { return sd }
        let sd = try StateDict(weights: WeightFile.read(path: path))
        readCount += 1
        files[id] = sd
        return sd
    }
}
