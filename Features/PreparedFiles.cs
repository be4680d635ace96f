namespace HrnnPipeline.Features;

/// <summary>
/// Names of the files <c>prepare</c> leaves in <c>work/prepared</c>. The splits follow Quadrana et al. 2017 sec. 4.1:
/// <c>test</c> is each user's last session; <c>train</c> all the others. For early stopping and tuning, the same
/// procedure applied to <c>train</c> gives <c>valid</c> (each user's last training session) and <c>fit</c> (the rest),
/// so the test split never reaches training or model selection. <see cref="Complete"/> is for the model that is
/// published, not evaluated: every kept session whole, with the items only test has in <see cref="CompleteItems"/>.
/// </summary>
public static class PreparedFiles
{
    public const string Train = "train.arrow";
    public const string Fit = "fit.arrow";
    public const string Valid = "valid.arrow";
    public const string Test = "test.arrow";
    public const string Items = "items.arrow";
    public const string Users = "users.arrow";
    /// <summary>Every kept session (fit, valid and test) with all its events, in train's order and schema; items
    /// indexed by <see cref="CompleteItems"/>, users by <see cref="Users"/>.</summary>
    public const string Complete = "complete.arrow";
    /// <summary>The items of <see cref="Complete"/>: <see cref="Items"/>' items at the same indices, then those only
    /// test has (by support, then id); counts are the support over all kept sessions.</summary>
    public const string CompleteItems = "items-complete.arrow";
}
