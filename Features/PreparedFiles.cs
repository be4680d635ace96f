namespace HrnnPipeline.Features;

/// <summary>
/// Names of the files <c>prepare</c> leaves in <c>work/prepared</c>. The splits follow Quadrana et al. 2017 sec. 4.1:
/// <c>test</c> is each user's last session; <c>train</c> all the others. For early stopping and tuning, the same
/// procedure applied to <c>train</c> gives <c>valid</c> (each user's last training session) and <c>fit</c> (the rest),
/// so the test split never reaches training or model selection.
/// </summary>
public static class PreparedFiles
{
    public const string Train = "train.arrow";
    public const string Fit = "fit.arrow";
    public const string Valid = "valid.arrow";
    public const string Test = "test.arrow";
    public const string Items = "items.arrow";
    public const string Users = "users.arrow";
}
