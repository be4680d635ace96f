using System.Buffers;
using System.Security.Cryptography;
using HrnnPipeline.ServiceDefaults;

namespace HrnnPipeline.Ingest;

/// <summary>
/// What one streamed pass over a file tells: its SHA-256 (the identity used for idempotency), its first bytes
/// (for sniffing), and the line-ending facts that let DuckDB's reader be checked line for line.
/// </summary>
internal sealed class FileFacts
{
    const int HeadBytes = 64 * 1024;

    /// <summary>
    /// Bytes that may serve as the "never occurs" column separator when DuckDB reads each line as one value; the
    /// first one absent from the file is used.
    /// </summary>
    static readonly byte[] SeparatorCandidates = [0x01, 0x02, 0x03, 0x1F];

    public required string Path { get; init; }
    public required string Sha256 { get; init; }
    public required long Length { get; init; }
    public required byte[] Head { get; init; }
    public required long LineFeeds { get; init; }
    public required long CarriageReturns { get; init; }
    public required long CrLfPairs { get; init; }
    public required bool EndsWithLineBreak { get; init; }
    /// <summary>A control byte absent from the file, or null when all candidates occur (binary data).</summary>
    public required byte? FreeSeparator { get; init; }

    public long LoneCarriageReturns => CarriageReturns - CrLfPairs;

    /// <summary>Lines as a text editor counts them: breaks are LF, CRLF or a lone CR; a last unterminated line counts.</summary>
    public long PhysicalLines => LineFeeds + LoneCarriageReturns + (Length > 0 && !EndsWithLineBreak ? 1 : 0);

    public static FileFacts Read(string path, CancellationToken ct)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
            try
            {
                var head = new MemoryStream();
                long length = 0, lineFeeds = 0, carriageReturns = 0, crLf = 0;
                var present = new bool[SeparatorCandidates.Length];
                byte last = 0;
                int read;
                while ((read = stream.Read(buffer, 0, buffer.Length)) > 0)
                {
                    ct.ThrowIfCancellationRequested();
                    var span = buffer.AsSpan(0, read);
                    sha.AppendData(span);
                    if (head.Length < HeadBytes) head.Write(span[..Math.Min(read, HeadBytes - (int)head.Length)]);
                    lineFeeds += span.Count((byte)'\n');
                    var crs = span.Count((byte)'\r');
                    if (crs > 0 || last == '\r')
                    {
                        carriageReturns += crs;
                        crLf += span.Count("\r\n"u8);
                        if (last == '\r' && span[0] == '\n') crLf++; // a pair split across two reads
                    }
                    for (int i = 0; i < SeparatorCandidates.Length; i++)
                        if (!present[i] && span.Contains(SeparatorCandidates[i])) present[i] = true;
                    last = span[^1];
                    length += read;
                }
                var free = Array.FindIndex(present, p => !p);
                return new FileFacts
                {
                    Path = path,
                    Sha256 = Convert.ToHexStringLower(sha.GetHashAndReset()),
                    Length = length,
                    Head = head.ToArray(),
                    LineFeeds = lineFeeds,
                    CarriageReturns = carriageReturns,
                    CrLfPairs = crLf,
                    EndsWithLineBreak = last is (byte)'\n' or (byte)'\r',
                    FreeSeparator = free < 0 ? null : SeparatorCandidates[free],
                };
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PipelineException($"{path}: cannot read: {e.Message}", isPermanent: false, e);
        }
    }
}
