using System.Globalization;

namespace HrnnPipeline.Ingest.Synthetic;

/// <summary>
/// The generator's metadata option: the taste groups become item categories, so an item's category says which users
/// click it. <c>FILE.items.csv</c> has item_id, category (the item's group), genres (the category and, for some items,
/// a second one: a '|' multi-value) and price (numeric, higher for less popular items); <c>FILE.users.csv</c> has
/// user_id, favourite (the category of the user's strongest taste at the start) and age (numeric, noise). New items
/// (<see cref="SyntheticLogOptions.NewItems"/>) join groups and take over a share of their group's clicks after the
/// cut-off, so they have metadata but little or no history: cold items. Everything here draws from its own seeded
/// random streams, so the log without the option is byte for byte what it was.
/// </summary>
public sealed partial class SyntheticLogGenerator
{
    /// <summary>Share of a late click on an established item of a group that goes to one of the group's new items.</summary>
    const double NewItemShare = 0.3;

    int NewItemGroup(int item) => new Random(unchecked(_o.Seed * 31 + item * 7_717)).Next(_groups);

    IEnumerable<int> NewItemIds => Enumerable.Range(_o.Items + 1, _o.NewItems);

    /// <summary>When the new items start to be clicked (<see cref="SyntheticLogOptions.NewItemsAfterDays"/> into the log).</summary>
    public DateTimeOffset NewItemsFrom => DateTimeOffset.FromUnixTimeSeconds(_o.StartUnixSeconds + (long)(_o.NewItemsAfterDays * 86400));

    IEnumerable<(int User, int Item, long Timestamp)> WithNewItems(IEnumerable<(int User, int Item, long Timestamp)> events)
    {
        var byGroup = NewItemIds.GroupBy(NewItemGroup).ToDictionary(g => g.Key, g => g.ToArray());
        long cutoff = NewItemsFrom.ToUnixTimeSeconds();
        var rng = new Random(unchecked(_o.Seed * 613 + 0x11e5));
        foreach (var (user, item, ts) in events)
        {
            if (ts >= cutoff && byGroup.TryGetValue(_itemGroup[item - 1], out var fresh) && rng.NextDouble() < NewItemShare)
                yield return (user, fresh[rng.Next(fresh.Length)], ts);
            else yield return (user, item, ts);
        }
    }

    /// <summary>The item and user metadata files of a log written to <paramref name="logPath"/>; returns their paths.</summary>
    public (string Items, string Users) WriteMetadata(string logPath)
    {
        var items = Path.ChangeExtension(logPath, ".items.csv");
        var users = Path.ChangeExtension(logPath, ".users.csv");
        var rng = new Random(unchecked(_o.Seed * 977 + 0x3e7a));
        using (var writer = new StreamWriter(items))
        {
            writer.WriteLine("item_id,category,genres,price");
            for (int i = 1; i <= _o.Items + _o.NewItems; i++)
            {
                int group = i <= _o.Items ? _itemGroup[i - 1] : NewItemGroup(i);
                var category = $"c{group}";
                var genres = rng.NextDouble() < 0.3 ? $"{category}|c{rng.Next(_groups)}" : category;
                double price = i <= _o.Items ? 5 + _itemPosition[i - 1] % 20 + rng.Next(100) / 100.0 : 20 + rng.Next(100) / 100.0;
                writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"i{i},{category},{genres},{price:0.00}"));
            }
        }
        using (var writer = new StreamWriter(users))
        {
            writer.WriteLine("user_id,favourite,age");
            for (int u = 0; u < _o.Users; u++)
                writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"u{u},c{FirstTaste(u)},{18 + rng.Next(60)}"));
        }
        return (items, users);
    }

    /// <summary>The user's strongest taste at the start: the first group their own random stream draws.</summary>
    int FirstTaste(int user)
    {
        var rng = new Random(unchecked(_o.Seed * 1_000_003 + user * 7_919 + 0x5eed));
        rng.Next(3); // the taste count, drawn first in UserEvents
        return Draw(_groupWeightCdf, rng);
    }
}
