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

    [Fact(Skip = "Open: hrnn-init does not yet beat rnn here after 4 epochs (recall@10 at positions 1-2: 0.37 vs 0.41). Tracked in the training issue's note.")]
    public void Hrnn_beats_a_session_only_rnn_on_the_first_events_of_a_session_when_users_have_strong_tastes()
    {
        TorchRuntime.EnsureLoaded();
        var (train, test, items) = TestData.Generated(300, 400, seed: 11, tasteStrength: 0.95);
        double Recall(ModelKind kind)
        {
            var settings = new HrnnSettings
            {
                Model = kind, SessionHidden = 48, UserHidden = 48, BatchSize = 32, Epochs = 4, Loss = LossKind.CrossEntropy,
                Optimizer = OptimizerKind.Adam, LearningRate = 0.01, NSample = 64, Patience = 0, DropoutSession = 0.1, Seed = 1,
            };
            using var trainer = new HrnnTrainer(settings, items, CPU, Directory.CreateTempSubdirectory("hrnn-p").FullName);
            trainer.Train(train, null, resume: false);
            return EarlyRecall(trainer.Model, train, test);
        }
        double hrnn = Recall(ModelKind.HrnnInit), rnn = Recall(ModelKind.Rnn);
        Assert.True(hrnn > rnn, $"hrnn-init recall@10 at positions 1-2 = {hrnn:F3}, rnn = {rnn:F3}");
    }
}
