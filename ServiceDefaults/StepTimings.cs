using System.Diagnostics;

namespace HrnnPipeline.ServiceDefaults;

/// <summary>Wall seconds of one named step (summed over its statements), in the order steps first ran.</summary>
public sealed record StepTime(string Step, double Seconds);

/// <summary>
/// Wall time per step of a stage, so a summary says where the time went without a profiler: the figures issue
/// #14 asks for come from the same runs users make.
/// </summary>
public sealed class StepTimings
{
    readonly List<string> _order = [];
    readonly Dictionary<string, double> _seconds = new(StringComparer.Ordinal);

    public IReadOnlyList<StepTime> Steps => [.. _order.Select(s => new StepTime(s, Math.Round(_seconds[s], 3)))];

    public void Add(string step, TimeSpan elapsed)
    {
        if (!_seconds.TryAdd(step, elapsed.TotalSeconds)) _seconds[step] += elapsed.TotalSeconds;
        else _order.Add(step);
    }

    public T Time<T>(string step, Func<T> work)
    {
        var clock = Stopwatch.StartNew();
        try { return work(); }
        finally { Add(step, clock.Elapsed); }
    }

    public void Time(string step, Action work) => Time(step, () => { work(); return 0; });

    public async Task<T> TimeAsync<T>(string step, Func<Task<T>> work)
    {
        var clock = Stopwatch.StartNew();
        try { return await work().ConfigureAwait(false); }
        finally { Add(step, clock.Elapsed); }
    }
}
