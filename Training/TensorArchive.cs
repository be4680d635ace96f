using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using HrnnPipeline.ServiceDefaults;
using static TorchSharp.torch;

namespace HrnnPipeline.Training;

/// <summary>
/// A self-describing file of named tensors plus a JSON metadata object: the format of checkpoints and of the final
/// model. Layout: "HRNNTNSR", a 4-byte little-endian header length, the JSON header (metadata, and per tensor its
/// name, dtype, shape and byte offset), then the raw little-endian data. Written to a temporary file and renamed,
/// so a kill during a save never corrupts the previous file.
/// </summary>
public static class TensorArchive
{
    static readonly byte[] Magic = "HRNNTNSR"u8.ToArray();

    public static void Save(string path, JsonObject metadata, IEnumerable<(string Name, Tensor Value)> tensors)
    {
        var entries = new JsonArray();
        var payloads = new List<byte[]>();
        long offset = 0;
        foreach (var (name, value) in tensors)
        {
            using var cpuTensor = value.detach().cpu().contiguous();
            byte[] bytes = cpuTensor.dtype switch
            {
                ScalarType.Float32 => MemoryMarshal.AsBytes(cpuTensor.data<float>().ToArray().AsSpan()).ToArray(),
                ScalarType.Int64 => MemoryMarshal.AsBytes(cpuTensor.data<long>().ToArray().AsSpan()).ToArray(),
                _ => throw new NotSupportedException($"{name}: dtype {cpuTensor.dtype} not supported"),
            };
            entries.Add(new JsonObject
            {
                ["name"] = name,
                ["dtype"] = cpuTensor.dtype == ScalarType.Float32 ? "f32" : "i64",
                ["shape"] = new JsonArray(cpuTensor.shape.Select(d => (JsonNode)d).ToArray()),
                ["offset"] = offset,
            });
            payloads.Add(bytes);
            offset += bytes.Length;
        }
        var header = Encoding.UTF8.GetBytes(new JsonObject { ["metadata"] = metadata.DeepClone(), ["tensors"] = entries }.ToJsonString());
        var tmp = path + ".tmp";
        using (var file = File.Create(tmp))
        {
            file.Write(Magic);
            Span<byte> len = stackalloc byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(len, header.Length);
            file.Write(len);
            file.Write(header);
            foreach (var p in payloads) file.Write(p);
            file.Flush(flushToDisk: true);
        }
        File.Move(tmp, path, overwrite: true);
    }

    public sealed record Contents(JsonObject Metadata, Dictionary<string, Tensor> Tensors) : IDisposable
    {
        public void Dispose()
        {
            foreach (var t in Tensors.Values) t.Dispose();
        }
    }

    public static Contents Load(string path)
    {
        if (!File.Exists(path)) throw new PipelineException($"{path}: not found");
        using var file = File.OpenRead(path);
        var magic = new byte[Magic.Length];
        file.ReadExactly(magic);
        if (!magic.AsSpan().SequenceEqual(Magic)) throw new PipelineException($"{path}: not an HRNN model or checkpoint file");
        var len = new byte[4];
        file.ReadExactly(len);
        var header = new byte[BinaryPrimitives.ReadInt32LittleEndian(len)];
        file.ReadExactly(header);
        var root = JsonNode.Parse(header)!.AsObject();
        long dataStart = file.Position;
        var tensors = new Dictionary<string, Tensor>();
        foreach (var entry in root["tensors"]!.AsArray())
        {
            var shape = entry!["shape"]!.AsArray().Select(d => d!.GetValue<long>()).ToArray();
            long count = shape.Aggregate(1L, (a, b) => a * b);
            file.Position = dataStart + entry["offset"]!.GetValue<long>();
            var name = entry["name"]!.GetValue<string>();
            if (entry["dtype"]!.GetValue<string>() == "f32")
            {
                var values = new float[count];
                file.ReadExactly(MemoryMarshal.AsBytes(values.AsSpan()));
                tensors[name] = tensor(values, shape);
            }
            else
            {
                var values = new long[count];
                file.ReadExactly(MemoryMarshal.AsBytes(values.AsSpan()));
                tensors[name] = tensor(values, shape);
            }
        }
        return new Contents(root["metadata"]!.AsObject(), tensors);
    }

    public static JsonObject ToJson<T>(T value) => JsonSerializer.SerializeToNode(value, Json.Options)!.AsObject();
    public static T FromJson<T>(JsonNode node) => node.Deserialize<T>(Json.Options)!;
}
