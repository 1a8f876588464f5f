#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CZlib

/// The three zlib services an `.npz` needs: CRC-32, raw inflate, raw deflate
/// (ZIP stores deflate streams without the zlib wrapper, hence window bits -15).
enum Zlib {
    /// zlib takes lengths as 32-bit `uInt`; larger buffers go through in slices.
    private static let slice = 1 << 30

    static func crc32(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
        var crc = UInt(seed)
        guard var p = bytes.baseAddress?.assumingMemoryBound(to: Bytef.self) else { return seed }
        var left = bytes.count
        while left > 0 {
            let n = min(left, slice)
            crc = CZlib.crc32(crc, p, uInt(n))
            p += n
            left -= n
        }
        return UInt32(truncatingIfNeeded: crc)
    }

    /// Inflates the raw deflate stream `input`, which claims to hold exactly `claimed` bytes,
    /// into a malloc'd buffer (the caller owns it; `free` it). The buffer grows (doubling,
    /// realloc) only with bytes the stream really produces, so a false claim costs nothing:
    /// a stream that ends early, is corrupt or holds more than claimed is an error, and
    /// memory that cannot be had is `exceedsMemory`, never a trap.
    static func inflate(_ input: UnsafeRawBufferPointer, claimed: Int) throws(NpyError) -> UnsafeMutableRawPointer {
        var capacity = min(claimed, max(1 << 16, input.count &* 4))
        guard var out = NpyBuffer.allocate(capacity) else {
            throw NpyError(.exceedsMemory(what: "inflating the member", bytes: UInt64(capacity), budget: MemoryBudget.current()))
        }
        var stream = z_stream()
        guard inflateInit2_(&stream, -MAX_WBITS, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            free(out)
            throw NpyError(.inflateFailed(message: "zlib could not start"))
        }
        defer { inflateEnd(&stream) }
        var inUsed = 0, outUsed = 0
        var status: Int32 = Z_OK
        let inBase = input.baseAddress.map { UnsafeMutablePointer(mutating: $0.assumingMemoryBound(to: Bytef.self)) }
        var scratch: UInt8 = 0
        do throws(NpyError) {
            while status == Z_OK {
                if outUsed == capacity && capacity < claimed {
                    let grown = capacity > claimed / 2 ? claimed : capacity * 2
                    guard let p = realloc(out, grown) else {
                        throw NpyError(.exceedsMemory(what: "inflating the member", bytes: UInt64(grown), budget: MemoryBudget.current()))
                    }
                    out = p
                    capacity = grown
                }
                let inChunk = min(input.count - inUsed, slice)
                let outChunk = min(capacity - outUsed, slice)
                stream.next_in = inBase.map { $0 + inUsed }
                stream.avail_in = uInt(inChunk)
                if outChunk > 0 {
                    stream.next_out = out.assumingMemoryBound(to: Bytef.self) + outUsed
                    stream.avail_out = uInt(outChunk)
                } else {
                    // Room for one more byte: if the stream produces it, it is longer than claimed.
                    stream.next_out = withUnsafeMutablePointer(to: &scratch) { $0 }
                    stream.avail_out = 1
                }
                let outBefore = Int(stream.avail_out), inBefore = inChunk
                status = CZlib.inflate(&stream, Z_NO_FLUSH)
                let produced = outBefore - Int(stream.avail_out)
                let consumed = inBefore - Int(stream.avail_in)
                inUsed += consumed
                if outChunk == 0 && produced > 0 {
                    throw NpyError(.sizeMismatch(expected: claimed, found: claimed + produced))
                }
                outUsed += produced
                if status == Z_BUF_ERROR || (status == Z_OK && produced == 0 && consumed == 0) {
                    throw NpyError(.inflateFailed(message: "deflate stream ends early (\(outUsed) of \(claimed) bytes)"))
                }
            }
            guard status == Z_STREAM_END else {
                let message = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                throw NpyError(.inflateFailed(message: message))
            }
            guard outUsed == claimed else {
                throw NpyError(.sizeMismatch(expected: claimed, found: outUsed))
            }
        } catch {
            free(out)
            throw error
        }
        return out
    }

    /// Raw-deflates the concatenation of `parts` at zlib's default level (what Python's
    /// zipfile uses), handing the compressed bytes to `sink` in pieces.
    static func deflate(_ parts: [UnsafeRawBufferPointer], sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        var stream = z_stream()
        guard deflateInit2_(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY,
                            zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw NpyError(.ioFailed(operation: "deflate", reason: "zlib could not start"))
        }
        defer { deflateEnd(&stream) }
        let outSize = 1 << 20
        let out = UnsafeMutablePointer<Bytef>.allocate(capacity: outSize)
        defer { out.deallocate() }
        for (index, input) in parts.enumerated() {
            let inBase = input.baseAddress.map { UnsafeMutablePointer(mutating: $0.assumingMemoryBound(to: Bytef.self)) }
            var inUsed = 0
            while true {
                let inChunk = min(input.count - inUsed, slice)
                stream.next_in = inBase.map { $0 + inUsed }
                stream.avail_in = uInt(inChunk)
                let last = index == parts.count - 1 && inUsed + inChunk == input.count
                var status: Int32
                repeat {
                    stream.next_out = out
                    stream.avail_out = uInt(outSize)
                    status = CZlib.deflate(&stream, last ? Z_FINISH : Z_NO_FLUSH)
                    guard status != Z_STREAM_ERROR else {
                        throw NpyError(.ioFailed(operation: "deflate", reason: "zlib stream error"))
                    }
                    let produced = outSize - Int(stream.avail_out)
                    if produced > 0 { try sink(UnsafeRawBufferPointer(start: out, count: produced)) }
                } while stream.avail_out == 0 || (last && status != Z_STREAM_END)
                inUsed += inChunk - Int(stream.avail_in)
                if inUsed >= input.count { break }
            }
        }
    }
}
