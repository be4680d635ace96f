using HrnnPipeline.Training;
using static TorchSharp.torch;

namespace HrnnPipeline.Tests.Training;

public sealed class SmokeTests
{
    [Fact]
    public void Training_reduces_the_loss()
    {
        TorchRuntime.EnsureLoaded();
        var (train, test, items) = TestData.Generated(300, 400, seed: 1);
        var dir = Directory.CreateTempSubdirectory("hrnn-train").FullName;
        var settings = new HrnnSettings { Epochs = 3, BatchSize = 32, SessionHidden = 64, UserHidden = 64, Loss = LossKind.CrossEntropy,
            Optimizer = OptimizerKind.Adam, LearningRate = 0.01, NSample = 64, Patience = 0 };
        using var trainer = new HrnnTrainer(settings, items, CPU, dir);
        var result = trainer.Train(train, test, resume: false);
        foreach (var e in result.Epochs) Console.WriteLine(e);
        Assert.True(result.Epochs[^1].Loss < result.Epochs[0].Loss);
    }
}
