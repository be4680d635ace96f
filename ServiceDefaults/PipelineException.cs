namespace HrnnPipeline.ServiceDefaults;

/// <summary>
/// An error the user can act on (bad input, bad configuration). Hosts print its message as one line and exit
/// non-zero; it never surfaces as a stack trace. <see cref="IsPermanent"/> tells schedulers not to retry.
/// </summary>
public sealed class PipelineException(string message, bool isPermanent = true, Exception? inner = null)
    : Exception(message, inner)
{
    public bool IsPermanent { get; } = isPermanent;
}
