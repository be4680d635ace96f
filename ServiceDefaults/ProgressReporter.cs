using System.Diagnostics;

namespace HrnnPipeline.ServiceDefaults;

/// <summary>
/// Progress of a long step: a redrawn bar (done, rate, time left) on a terminal, a plain line every few seconds
/// when output is redirected, so nightly logs stay readable.
/// </summary>
public sealed class ProgressReporter
{
    readonly string _label;
    readonly long _total;
    readonly string _unit;
    readonly Stopwatch _clock = Stopwatch.StartNew();
    readonly bool _interactive = !Console.IsErrorRedirected;
    readonly TimeSpan _interval;
    TimeSpan _lastDraw = TimeSpan.MinValue;

    public ProgressReporter(string label, long total, string unit = "items")
    {
        _label = label;
        _total = total;
        _unit = unit;
        _interval = _interactive ? TimeSpan.FromMilliseconds(200) : TimeSpan.FromSeconds(10);
    }

    /// <summary>Silences progress output (tests, library callers).</summary>
    public static bool Quiet { get; set; }

    public void Report(long done, string? extra = null)
    {
        if (Quiet) return;
        var now = _clock.Elapsed;
        if (now < _lastDraw + _interval && done < _total) return; // not now - _lastDraw: MinValue would overflow
        _lastDraw = now;
        var rate = done / Math.Max(now.TotalSeconds, 1e-9);
        var left = rate > 0 && _total > 0 ? TimeSpan.FromSeconds((_total - done) / rate) : TimeSpan.Zero;
        var pct = _total > 0 ? 100.0 * done / _total : 100.0;
        var text = $"{_label}: {done:N0}/{_total:N0} {_unit} ({pct:F0}%), {rate:N0} {_unit}/s, {left:hh\\:mm\\:ss} left{(extra is null ? "" : ", " + extra)}";
        if (_interactive)
        {
            const int width = 20;
            var filled = (int)Math.Clamp(pct / 100 * width, 0, width);
            Console.Error.Write($"\r[{new string('#', filled)}{new string('.', width - filled)}] {text}\u001b[K");
        }
        else
        {
            Console.Error.WriteLine(text);
        }
    }

    public void Done(string? extra = null)
    {
        if (Quiet) return;
        _lastDraw = TimeSpan.MinValue;
        Report(_total, extra);
        if (_interactive) Console.Error.WriteLine();
    }
}
