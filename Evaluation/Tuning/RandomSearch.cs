using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using HrnnPipeline.Features;
using HrnnPipeline.ServiceDefaults;
using HrnnPipeline.Training;

namespace HrnnPipeline.Evaluation.Tuning;

/// <summary>
/// What a search may see: the fit split (training), the validation split (each user's last training session,
/// scored with the user's fit sessions as history), the catalogue and its metadata (which an RNN trial reads as
/// `evaluate` and `run` do). There is no test split here by construction.
/// </summary>
public sealed record TuningData(SessionDataset Fit, SessionDataset Valid, IdMap Items)
{
    public MetadataSource? Metadata { get; init; }

    /// <summary>A short hash of the splits' contents: a trials file is only resumed on the data it was run on.</summary>
    public string Fingerprint()
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var data in new[] { Fit, Valid })
        {
            hash.AppendData(MemoryMarshal.AsBytes(data.Users.AsSpan()));
            hash.AppendData(MemoryMarshal.AsBytes(data.UserStarts.AsSpan()));
            hash.AppendData(MemoryMarshal.AsBytes(data.SessionStarts.AsSpan()));
            hash.AppendData(MemoryMarshal.AsBytes(data.Items.AsSpan()));
        }
        hash.AppendData(BitConverter.GetBytes(Items.TableSize));
        return Convert.ToHexStringLower(hash.GetHashAndReset())[..16];
    }
}

/// <summary>
/// Seeded random search (GRU4Rec's paropt and session-rec's random optimisation do the same): trial t draws its
/// settings from <see cref="SearchSpace.Sample"/> with the search seed, is scored on the validation split, and is
/// appended to the trials file. Run again, it checks that every recorded trial is what the seed draws now (same
/// model, seed, data and settings) and continues after the last one.
/// </summary>
public sealed class RandomSearch(SearchSpace space, int seed, int trials, TrialsFile file)
{
    /// <summary>The trials recorded so far, each checked against what the seed draws now; <paramref name="data"/>
    /// (the splits' fingerprint) is checked too when given. Callers check before the slow preparation too.</summary>
    public IReadOnlyList<TrialRecord> Recorded(string? data = null)
    {
        var recorded = file.Read();
        for (int i = 0; i < recorded.Count; i++) Check(recorded[i], i + 1, data);
        return recorded;
    }

    /// <summary>Runs the trials not yet recorded on the data of fingerprint <paramref name="data"/>, one progress
    /// line per trial to <paramref name="log"/>; returns trials 1..N.</summary>
    public IReadOnlyList<TrialRecord> Run(string data,
        Func<TrialSettings, CancellationToken, IReadOnlyDictionary<string, double>> score, Action<string> log, CancellationToken ct)
    {
        if (trials < 1) throw new PipelineException($"--trials {trials}: must be >= 1");
        var done = Recorded(data).Take(trials).ToList();
        TrialRecord? best = null;
        foreach (var record in done)
        {
            if (best is null || record.Score > best.Score) best = record;
            log(Line(record, space.Sample(seed, record.Trial), best, $"{record.Seconds:F1} s, recorded earlier"));
        }
        for (int t = done.Count + 1; t <= trials; t++)
        {
            ct.ThrowIfCancellationRequested();
            var drawn = space.Sample(seed, t);
            var clock = Stopwatch.StartNew();
            var figures = score(drawn, ct);
            var record = new TrialRecord(t, space.Model, seed, data, drawn.Settings, figures, clock.Elapsed.TotalSeconds);
            file.Append(record);
            done.Add(record);
            if (best is null || record.Score > best.Score) best = record;
            log(Line(record, drawn, best, $"{record.Seconds:F1} s"));
        }
        return done;
    }

    /// <summary>The best of <paramref name="records"/> by validation MRR@20, the earliest on ties.</summary>
    public static TrialRecord Best(IReadOnlyList<TrialRecord> records) =>
        records.Aggregate((best, r) => r.Score > best.Score ? r : best);

    void Check(TrialRecord record, int expected, string? data)
    {
        string where = $"{file.Path}: trial {record.Trial}";
        string again = "rerun with the options it was started with, or give another --out";
        if (record.Trial != expected) throw new PipelineException($"{file.Path}: line {expected} holds trial {record.Trial}; expected trial {expected}");
        if (record.Model != space.Model)
            throw new PipelineException($"{where} tuned {record.Model}, not {space.Model}; {again}");
        if (record.Seed != seed) throw new PipelineException($"{where} was drawn with --seed {record.Seed}, not {seed}; {again}");
        if (data is not null && record.Data != data)
            throw new PipelineException($"{where} ran on other data (fingerprint {record.Data}, now {data}: other input or preparation options); {again}");
        var now = space.Sample(seed, record.Trial).Settings;
        if (SettingsJson.Canonical(now) != SettingsJson.Canonical(record.Settings))
            throw new PipelineException($"{where} has other settings than --seed {seed} draws now ({Difference(record.Settings, now)}: " +
                $"the fixed options or the search space changed); {again}");
    }

    static string Difference(System.Text.Json.Nodes.JsonObject recorded, System.Text.Json.Nodes.JsonObject now)
    {
        var keys = recorded.Select(kv => kv.Key).Union(now.Select(kv => kv.Key));
        var key = keys.FirstOrDefault(k => SettingsJson.Canonical(recorded[k]) != SettingsJson.Canonical(now[k]));
        if (key is null) return "the keys are in another order";
        return $"{key} {SettingsJson.Canonical(recorded[key])} recorded, {SettingsJson.Canonical(now[key])} now";
    }

    string Line(TrialRecord record, TrialSettings drawn, TrialRecord best, string seconds) =>
        $"trial {record.Trial}/{trials}  {drawn.Describe()}  | valid {record.Figures()}  | best MRR@20 " +
        $"{best.Score.ToString("F4", CultureInfo.InvariantCulture)} (trial {best.Trial})  | {seconds}";
}
