using System.Text;

namespace HrnnPipeline.Scoring;

/// <summary>
/// Which shard a user belongs to: a stable hash (FNV-1a over the UTF-8 user id as given in the input) modulo the
/// shard count, so every worker on every machine agrees without coordination, run after run.
/// </summary>
public static class UserShards
{
    public static int ShardOf(string userId, int shardCount)
    {
        uint hash = 2166136261;
        foreach (var b in Encoding.UTF8.GetBytes(userId)) hash = (hash ^ b) * 16777619;
        return (int)(hash % (uint)shardCount);
    }

    /// <summary>Parses "i/N" (0 &lt;= i &lt; N).</summary>
    public static (int Shard, int Count) Parse(string text)
    {
        var parts = text.Split('/');
        if (parts.Length == 2 && int.TryParse(parts[0], out var i) && int.TryParse(parts[1], out var n) && n >= 1 && i >= 0 && i < n)
            return (i, n);
        throw new ServiceDefaults.PipelineException($"--shard {text}: expected i/N with 0 <= i < N, e.g. 0/4");
    }
}
