using HrnnPipeline.Features;
using HrnnPipeline.Training;
using static TorchSharp.torch;

namespace HrnnPipeline.Tests.Training;

public sealed class PersonalisationTests
{
    /// <summary>Recall@10 over the first two predictions of each test session (positions 1-2), full ranking.</summary>
    static double EarlyRecall(HrnnModel model, SessionDataset history, SessionDataset test)
    {
        var (data, evaluated) = EvaluationSequences.Join(history, test);
        int hits = 0, n = 0;
        new HrnnInference(model, CPU).Run(new HrnnInference.Request(data, 64, 10) { EvalSessions = evaluated }, rows =>
        {
            for (int i = 0; i < rows.Rank.Length; i++)
                if (rows.Position[i] is 1 or 2) { n++; if (rows.Rank[i] <= 10) hits++; }
        }, null);
        return (double)hits / n;
    }

    [Fact]
    public void Hrnn_beats_a_session_only_rnn_on_the_first_events_of_a_session_when_users_have_strong_tastes()
    {
        TorchRuntime.EnsureLoaded();
        // Strong per-user tastes: 40% of clicks return to one of the user's few favourites, the rest mostly come
        // from the user's own part of their taste groups. The first click of a session says little about which.
        var (train, test, items) = TestData.Generated(1000, 400, seed: 11, tasteStrength: 0.95, favouriteShare: 0.4);
        double Recall(ModelKind kind)
        {
            var settings = new HrnnSettings
            {
                Model = kind, SessionHidden = 48, UserHidden = 48, BatchSize = 32, Epochs = 4, Loss = LossKind.CrossEntropy,
                Optimizer = OptimizerKind.Adagrad, LearningRate = 0.1, NSample = 64, Patience = 0, DropoutSession = 0.1, Seed = 1,
            };
            using var trainer = new HrnnTrainer(settings, items, CPU, Directory.CreateTempSubdirectory("hrnn-p").FullName);
            trainer.Train(train, null, resume: false);
            return EarlyRecall(trainer.Model, train, test);
        }
        double hrnn = Recall(ModelKind.HrnnInit), rnn = Recall(ModelKind.Rnn);
        // Measured: 0.490 against 0.474 (seed 1) and 0.476 (seed 2) over about 1,800 predictions.
        Assert.True(hrnn > rnn + 0.005, $"hrnn-init recall@10 at positions 1-2 = {hrnn:F3}, rnn = {rnn:F3}");
    }
}
