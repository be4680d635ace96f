using HrnnPipeline.Features;
using HrnnPipeline.Training;
using static TorchSharp.torch;

namespace HrnnPipeline.Tests.Training;

/// <summary>
/// Item and user metadata in the model, on a log whose categories are the users' tastes: items 1..40 fall into four
/// categories ((i - 1) % 4), user u plays only category u % 4, and items 41..44 (one per category) have metadata but
/// no event, so only their metadata can place them.
/// </summary>
public sealed class MetadataTests
{
    const int Categories = 4, Warm = 40, Users = 80;

    static int CategoryOf(int item) => item <= Warm ? (item - 1) % Categories : item - Warm - 1;

    static HrnnSettings Small(ModelKind kind) => new()
    {
        Model = kind, SessionHidden = 16, UserHidden = 16, BatchSize = 16, Epochs = 4, Loss = LossKind.CrossEntropy,
        Optimizer = OptimizerKind.Adam, LearningRate = 0.02, NSample = 16, Patience = 0, DropoutSession = 0, Seed = 2,
        Reminders = false, Metadata = true,
    };

    static SessionDataset Sessions()
    {
        var rng = new Random(5);
        return TestData.FromLists([.. Enumerable.Range(0, Users).Select(u => Enumerable.Range(0, 4).Select(_ =>
            Enumerable.Range(0, 5).Select(_ => 1 + u % Categories + Categories * rng.Next(Warm / Categories)).ToArray()).ToArray())]);
    }

    static IdMap UserMap => new([.. Enumerable.Range(0, Users).Select(u => $"u{u}")], new long[Users], 0);

    /// <summary>Item metadata (category, price) for items 1..44; with <paramref name="users"/>, each user's favourite.</summary>
    static MetadataSource Metadata(bool users)
    {
        var items = Enumerable.Range(1, Warm + Categories).SelectMany(i => new (string, string, string, double?)[]
        {
            ($"i{i}", "category", $"c{CategoryOf(i)}", null),
            ($"i{i}", "price", $"{i % 7}", i % 7),
        });
        var favourites = Enumerable.Range(0, Users).Select(u => ($"u{u}", "favourite", $"c{u % Categories}", (double?)null));
        return MetadataSource.FromRows([("category", false), ("price", true)], items,
            users ? [("favourite", false)] : null, users ? favourites : null, users ? UserMap : null);
    }

    static HrnnTrainer Trained(HrnnSettings settings, MetadataSource? metadata, SessionDataset data)
    {
        var trainer = new HrnnTrainer(settings, TestData.Items(Warm), CPU, Directory.CreateTempSubdirectory("hrnn-meta").FullName, metadata);
        trainer.Train(data, null, resume: false);
        return trainer;
    }

    [Fact]
    public void Without_metadata_the_model_is_the_model_of_metadata_off()
    {
        TorchRuntime.EnsureLoaded();
        var data = Sessions();
        var settings = Small(ModelKind.HrnnInit);
        using var none = Trained(settings, null, data);
        using var off = Trained(settings with { Metadata = false }, Metadata(users: true), data);
        using var on = Trained(settings, Metadata(users: true), data);

        Assert.Equal(none.Model.named_parameters().Select(p => p.name), off.Model.named_parameters().Select(p => p.name));
        Assert.Equal(none.Items.TableSize, off.Items.TableSize);
        foreach (var ((name, a), (_, b)) in none.Model.named_parameters().Zip(off.Model.named_parameters()))
            Assert.True(a.eq(b).all().item<bool>(), $"parameter {name} differs");
        // With metadata the model has its metadata parameters and a row for every item only metadata knows.
        Assert.Contains(on.Model.named_parameters(), p => p.name.Contains("metadata", StringComparison.OrdinalIgnoreCase));
        Assert.Equal(Warm + Categories + 1, on.Items.TableSize);
        Assert.Equal(0, on.Items.Counts[^1]);
        // Those, and only those, train at the metadata's share of the rate.
        var slow = on.Model.MetadataParameterNames().ToHashSet();
        Assert.Equal(on.Model.named_parameters().Select(p => p.name).Where(n => n.Contains("metadata", StringComparison.OrdinalIgnoreCase)).Order(),
            slow.Order());
        Assert.Empty(off.Model.MetadataParameterNames());
    }

    [Fact]
    public void A_cold_item_with_metadata_is_scored_and_listed_for_the_users_of_its_category()
    {
        TorchRuntime.EnsureLoaded();
        var data = Sessions();
        using var trainer = Trained(Small(ModelKind.HrnnInit), Metadata(users: false), data);
        var model = trainer.Model;
        Assert.True(trainer.Items.TryGetIndex($"i{Warm + 1}", out var firstCold));
        Assert.Equal(Warm + 1, firstCold);

        // Next-item lists inside a new session of each user's category: k = the category's 10 items and one more.
        var rng = new Random(9);
        var test = TestData.FromLists([.. Enumerable.Range(0, Users).Select(u => new[] { new[] { 1 + u % Categories, 1 + u % Categories + Categories * rng.Next(1, 10) } })]);
        var (joined, evaluated) = UserHistories.Join(data, test);
        int k = Warm / Categories + 1, listed = 0, lists = 0;
        new HrnnInference(model, CPU).Run(new HrnnInference.Request(joined, 32, k) { EvalSessions = evaluated }, rows =>
        {
            for (int r = 0; r < rows.Rank.Length; r++)
            {
                if (rows.Position[r] == 0) continue;
                int category = joined.Users[rows.UserBlock[r]] % Categories;
                var top = rows.TopK.AsSpan(r * k, k).ToArray();
                lists++;
                if (top.Contains(Warm + 1 + category)) listed++;
                // Never a cold item of another category.
                Assert.DoesNotContain(top, i => i > Warm && CategoryOf(i) != category);
            }
        }, null);
        Assert.Equal(Users, lists);
        Assert.True(listed >= lists * 3 / 4, $"the cold item of the user's category was listed in {listed} of {lists} lists");
        using (no_grad())
        using (var scores = model.ScoreAll(randn(2, 16)))
            Assert.True(scores.narrow(1, Warm + 1, Categories).isfinite().all().item<bool>());

        // The model saved and loaded scores alike: its metadata features travel with it.
        var models = Directory.CreateTempSubdirectory("hrnn-meta-store").FullName;
        ModelStore.Save(models, "v1", model, trainer.Items, new { });
        using var loaded = ModelStore.Load(models, "v1", "cpu");
        using var query = randn(3, 16);
        using (no_grad())
            Assert.True(model.ScoreAll(query).allclose(loaded.Model.ScoreAll(query), 1e-5, 1e-6));
        Assert.Equal(trainer.Items.Ids, loaded.Items.Ids);
    }

    /// <summary>Each user's mean rank of the cold item of their category in the whole catalogue, after a click in it.</summary>
    static double ColdRank(HrnnModel model, SessionDataset data)
    {
        var test = TestData.FromLists([.. Enumerable.Range(0, Users).Select(u => new[] { new[] { 1 + u % Categories, 1 + u % Categories + Categories } })]);
        var (joined, evaluated) = UserHistories.Join(data, test);
        int k = Warm + Categories;
        var ranks = new List<int>();
        new HrnnInference(model, CPU).Run(new HrnnInference.Request(joined, 32, k) { EvalSessions = evaluated }, rows =>
        {
            for (int r = 0; r < rows.Rank.Length; r++)
                if (rows.Position[r] > 0)
                    ranks.Add(1 + Array.IndexOf(rows.TopK.AsSpan(r * k, k).ToArray(), Warm + 1 + joined.Users[rows.UserBlock[r]] % Categories));
        }, null);
        Assert.Equal(Users, ranks.Count);
        Assert.DoesNotContain(0, ranks);
        return ranks.Average();
    }

    [Fact]
    public void Id_dropout_ranks_a_cold_item_higher_among_the_items_of_its_category()
    {
        TorchRuntime.EnsureLoaded();
        var data = Sessions();
        using var without = Trained(Small(ModelKind.HrnnInit) with { MetadataIdDropout = 0 }, Metadata(users: false), data);
        using var with = Trained(Small(ModelKind.HrnnInit) with { MetadataIdDropout = 0.5 }, Metadata(users: false), data);
        // Without dropout the metadata-only item sits below the category's items that have id rows; with it, the
        // metadata learns to stand for a typical item of the category.
        double before = ColdRank(without.Model, data), after = ColdRank(with.Model, data);
        Assert.True(after < before - 1, $"mean rank of the cold item: {before:F2} without id dropout, {after:F2} with");
    }

    [Fact]
    public void User_metadata_starts_a_new_user_from_their_metadata_not_from_zero()
    {
        TorchRuntime.EnsureLoaded();
        var data = Sessions();
        using var withUsers = Trained(Small(ModelKind.HrnnInit), Metadata(users: true), data);
        using var withoutUsers = Trained(Small(ModelKind.HrnnInit), Metadata(users: false), data);

        // A user's first step: user start, session start, first item 1; users 0 and 1 have other favourites.
        (Tensor Initial, Tensor User) First(HrnnModel model)
        {
            using var _ = no_grad();
            using var start = ones(2, 1);
            var (next, initial) = model.Step(model.InputSource, tensor(new long[] { 1, 1 }), model.ZeroState(2, CPU), start, start,
                training: false, users: tensor(new long[] { 0, 1 }));
            return (initial!, next.User!);
        }
        var (initial, user) = First(withUsers.Model);
        Assert.True(user.abs().sum().item<float>() > 0, "the user state starts from zero");
        Assert.False(initial[0].allclose(initial[1]), "two users of other favourites start their first session alike");
        var (plainInitial, plainUser) = First(withoutUsers.Model);
        Assert.Equal(0f, plainUser.abs().sum().item<float>());
        Assert.True(plainInitial[0].allclose(plainInitial[1]));
    }

    [Fact]
    public void A_number_starts_no_larger_than_a_category_however_it_is_spread()
    {
        TorchRuntime.EnsureLoaded();
        // Prices 50..10,000: standardised, still up to ~1.7 from the mean; projected, they must not drown the category.
        var rows = Enumerable.Range(1, 200).SelectMany(i => new (string, string, string, double?)[]
        {
            ($"i{i}", "category", $"c{i % 5}", null),
            ($"i{i}", "price", $"{i * 50}", i * 50),
        }).ToList();
        var ids = Enumerable.Range(1, 200).Select(i => $"i{i}").ToList();
        var both = MetadataSource.FromRows([("category", false), ("price", true)], rows, null, null, null);
        var categoryOnly = MetadataSource.FromRows([("category", false)], rows.Where(r => r.Item2 == "category"), null, null, null);
        using var _ = no_grad();
        // The same seed draws the same category table first; the difference is the number's projection.
        manual_seed(3);
        using var withPrice = MetadataEmbedding.Build("items", both.Items!, ids, 64);
        manual_seed(3);
        using var category = MetadataEmbedding.Build("items", categoryOnly.Items!, ids, 64);
        float numberPart = (withPrice.Vectors(null) - category.Vectors(null)).abs().mean().item<float>();
        float categoryPart = category.Vectors(null).abs().mean().item<float>();
        Assert.True(numberPart > 0, "the price is not projected");
        Assert.True(numberPart < categoryPart, $"a number's projection {numberPart:F4} outweighs a category's embedding {categoryPart:F4}");
    }
}
