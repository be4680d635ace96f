using System.Globalization;
using HrnnPipeline.Ingest.Synthetic;

namespace HrnnPipeline.Tests.Ingest;

public sealed class SyntheticMetadataTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("synthetic-metadata-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    static readonly SyntheticLogOptions Base = new() { Users = 300, Items = 1000, Seed = 9 };

    [Fact]
    public void The_metadata_option_leaves_the_log_byte_for_byte_as_without_it()
    {
        var plain = Path.Combine(_dir, "plain.csv");
        var withMetadata = Path.Combine(_dir, "meta.csv");
        new SyntheticLogGenerator(Base).Write(plain);
        var generator = new SyntheticLogGenerator(Base with { Metadata = true });
        generator.Write(withMetadata);
        generator.WriteMetadata(withMetadata);

        Assert.Equal(File.ReadAllBytes(plain), File.ReadAllBytes(withMetadata));
        Assert.True(File.Exists(Path.Combine(_dir, "meta.items.csv")));
        Assert.True(File.Exists(Path.Combine(_dir, "meta.users.csv")));
    }

    [Fact]
    public void Categories_drive_the_users_tastes_and_new_items_appear_only_late_with_metadata()
    {
        var log = Path.Combine(_dir, "log.csv");
        var options = Base with { Metadata = true, NewItems = 40 };
        var generator = new SyntheticLogGenerator(options);
        generator.Write(log);
        var (itemsFile, usersFile) = generator.WriteMetadata(log);

        var category = File.ReadLines(itemsFile).Skip(1).Select(l => l.Split(',')).ToDictionary(f => f[0], f => f[1]);
        Assert.Equal(options.Items + options.NewItems, category.Count);
        var favourite = File.ReadLines(usersFile).Skip(1).Select(l => l.Split(',')).ToDictionary(f => f[0], f => f[1]);
        var events = File.ReadLines(log).Skip(1).Select(l => l.Split(','))
            .Select(f => (User: f[0], Item: f[1], Ts: long.Parse(f[2], CultureInfo.InvariantCulture))).ToList();

        // Each user's clicks concentrate on a few categories, led by the one the users file names as favourite,
        // far beyond what the catalogue's spread over its categories would give.
        var byUser = events.GroupBy(e => e.User).ToList();
        double topShare = byUser.Average(g => g.GroupBy(e => category[e.Item]).Max(c => c.Count()) / (double)g.Count());
        double favouriteShare = byUser.Average(g => g.Count(e => category[e.Item] == favourite[g.Key]) / (double)g.Count());
        int categories = category.Values.Distinct().Count();
        Assert.True(topShare > 0.3, $"top category share {topShare:F2}");
        Assert.True(favouriteShare > 5.0 / categories, $"favourite category share {favouriteShare:F2} of {categories} categories");

        // New items: in the metadata, clicked only after the cut-off, and some of them are clicked.
        var fresh = Enumerable.Range(options.Items + 1, options.NewItems).Select(i => $"i{i}").ToHashSet();
        long cutoff = options.StartUnixSeconds + (long)(options.NewItemsAfterDays * 86400);
        var freshClicks = events.Where(e => fresh.Contains(e.Item)).ToList();
        Assert.NotEmpty(freshClicks);
        Assert.All(freshClicks, e => Assert.True(e.Ts >= cutoff));
        Assert.Contains(events, e => e.Ts >= cutoff && !fresh.Contains(e.Item));
    }
}
