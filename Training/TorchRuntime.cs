using System.Runtime.InteropServices;
using HrnnPipeline.ServiceDefaults;
using TorchSharp;
using static TorchSharp.torch;

namespace HrnnPipeline.Training;

/// <summary>
/// Loads libtorch once per process. By default TorchSharp's bundled CPU build is used (its LibTorchSharp copy is
/// patched at build time, see Directory.Build.targets). When <c>HRNN_LIBTORCH_DIR</c> names the <c>lib</c> folder of
/// a PyTorch/libtorch install, that install's libraries are loaded first, in dependency order, so a CUDA build can be
/// used without a CUDA NuGet package (verified against PyTorch 2.11 + CUDA 13, see shared/TORCHSHARP-NATIVE.md).
/// </summary>
public static class TorchRuntime
{
    public const string LibTorchDirVariable = "HRNN_LIBTORCH_DIR";
    public const string ThreadsVariable = "HRNN_TORCH_THREADS";
    static readonly Lock Gate = new();
    static bool _loaded;

    public static Device Resolve(string device)
    {
        EnsureLoaded(device);
        switch (device.ToLowerInvariant())
        {
            case "cpu":
                return CPU;
            case "cuda":
                if (!cuda.is_available())
                    throw new PipelineException(
                        $"--device cuda: no CUDA device available to libtorch; set {LibTorchDirVariable} to the lib folder " +
                        "of a CUDA-enabled PyTorch/libtorch install (e.g. python3 -c \"import torch,os;print(os.path.dirname(torch.__file__)+'/lib')\")");
                return CUDA;
            default:
                throw new PipelineException($"--device {device}: expected cpu or cuda");
        }
    }

    public static void EnsureLoaded(string device = "cpu")
    {
        lock (Gate)
        {
            if (_loaded) return;
            var dir = Environment.GetEnvironmentVariable(LibTorchDirVariable);
            if (!string.IsNullOrWhiteSpace(dir))
                LoadExternal(dir);
            else if (device.Equals("cuda", StringComparison.OrdinalIgnoreCase))
                throw new PipelineException(
                    $"--device cuda needs a CUDA libtorch: set {LibTorchDirVariable} to a PyTorch install's torch/lib folder");
            try
            {
                torch.InitializeDeviceType(string.IsNullOrWhiteSpace(dir) ? DeviceType.CPU : DeviceType.CUDA);
            }
            catch (Exception e) when (string.IsNullOrWhiteSpace(dir) is false)
            {
                // A CPU-only external libtorch: fall back to CPU, say so once.
                Console.Error.WriteLine($"{LibTorchDirVariable}={dir}: CUDA not initialised ({e.Message.Split('\n')[0]}); using CPU");
                torch.InitializeDeviceType(DeviceType.CPU);
            }
            catch (Exception e)
            {
                throw new PipelineException($"libtorch failed to load: {e.Message.Split('\n')[0]}", inner: e);
            }
            // Steps here are many small ops: libtorch's intra-op threads cost more in synchronisation than they
            // gain, and on a busy machine they spin against other processes (measured: 70x slower under load).
            var threads = int.TryParse(Environment.GetEnvironmentVariable(ThreadsVariable), out var n) && n > 0 ? n : 1;
            torch.set_num_threads(threads);
            _loaded = true;
        }
    }

    /// <summary>
    /// For work dominated by large matrix products (full-catalogue scores), libtorch may use every core until the
    /// returned scope ends; an explicit HRNN_TORCH_THREADS still wins.
    /// </summary>
    public static IDisposable AllCores()
    {
        EnsureLoaded();
        int before = torch.get_num_threads();
        if (Environment.GetEnvironmentVariable(ThreadsVariable) is null) torch.set_num_threads(Environment.ProcessorCount);
        return new RestoreThreads(before);
    }

    sealed class RestoreThreads(int threads) : IDisposable
    {
        public void Dispose() => torch.set_num_threads(threads);
    }

    static void LoadExternal(string dir)
    {
        if (!Directory.Exists(dir))
            throw new PipelineException($"{LibTorchDirVariable}={dir}: folder not found");
        // Dependency order matters: each library resolves its needs against the ones already loaded.
        string[] order = ["libc10.so", "libtorch_cpu.so", "libc10_cuda.so", "libtorch_cuda.so", "libtorch.so"];
        foreach (var name in order)
        {
            var path = Path.Combine(dir, name);
            if (File.Exists(path)) NativeLibrary.Load(path);
            else if (name is "libc10.so" or "libtorch_cpu.so" or "libtorch.so")
                throw new PipelineException($"{LibTorchDirVariable}={dir}: {name} not found; point it at the torch/lib folder");
        }
        var bridge = FindLibTorchSharp()
            ?? throw new PipelineException($"libLibTorchSharp.so not found next to the application in {AppContext.BaseDirectory}");
        NativeLibrary.Load(bridge);
    }

    static string? FindLibTorchSharp()
    {
        string[] candidates =
        [
            Path.Combine(AppContext.BaseDirectory, "libLibTorchSharp.so"),
            Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so"),
        ];
        return candidates.FirstOrDefault(File.Exists);
    }
}
