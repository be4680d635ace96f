using HrnnPipeline.Training;
using static TorchSharp.torch;

namespace HrnnPipeline.Scoring;

/// <summary>
/// The approximate mode (<see cref="ScoringOptions.Approximate"/>): a block's users are grouped by k-means on their
/// queries into clusters of about <paramref name="usersPerCluster"/>; each cluster's centroid is scored against the
/// whole catalogue (one product row per cluster instead of one per user), and the centroid's best
/// <paramref name="candidates"/> items (by the centroid's score plus <paramref name="reach"/> x the members' spread x
/// the item row's length) are scored exactly for the cluster's users, by one dense product per cluster.
/// Its cost is about 1/usersPerCluster + candidates/items of exact's. A user's exact top item is missed only when the
/// centroid ranks it below its best <paramref name="candidates"/>: the recall is measured (BENCHMARKS.md), not given.
/// Deterministic: the clusters start from evenly spaced rows.
/// </summary>
public sealed class CandidateIndex(int candidates, int usersPerCluster, double reach = CandidateIndex.DefaultReach, int iterations = 4)
{
    /// <summary>How far past the centroid the candidates reach (see Select); 0.4 kept recall@20 at 0.99 on the model
    /// measured (BENCHMARKS.md, "Scoring: exact tiles and the approximate mode").</summary>
    public const double DefaultReach = 0.4;

    // Scalars that live as long as the class (a temporary can be finalized while libtorch reads it, see Scalars).
    static readonly TorchSharp.Scalar Half = 0.5f, Floor = 1e-30f;

    /// <summary>Each row's <paramref name="k"/> + <paramref name="spare"/> best candidates [n, k + spare] (item
    /// columns) and their exact scores, best first, from its cluster's Candidates + spare (spare: the most items a row
    /// has seen, so exclude-seen still leaves k unseen in the candidates); with <paramref name="normalisers"/>, each row's softmax maximum and sum(exp(s - max)) over the whole
    /// catalogue: exact over its cluster's candidates, the rest's from the centroid's to first order,
    /// log Z_rest(q) = log Z_rest(c) + (q - c) . E[o] (E under the centroid's softmax over the rest).</summary>
    public (Tensor Items, Tensor Scores, double[]? RowMax, double[]? RowZ) Select(Tensor queries, HrnnModel.ItemRows items,
        int width, int k, int spare, bool normalisers)
    {
        int n = (int)queries.shape[0];
        int m = (int)Math.Min(candidates + (long)spare, width - 1);
        int kept = Math.Min(k + spare, m);
        var rows = items.Output.narrow(0, 0, width);
        var bias = items.Bias.narrow(0, 0, width);
        var (centroids, assign) = Clusters(queries, Math.Max(1, (n + usersPerCluster - 1) / usersPerCluster));
        var sizes = assign.bincount(null, centroids.shape[0]);
        var centroidScores = centroids.mm(rows.t()).add_(bias.unsqueeze(0), Scalars.One);
        if (reach > 0)
        {
            // A member q scores item i at c.o_i + b_i + (q - c).o_i: the items whose rows are long vary most across the
            // cluster, so they are chosen with reach x (the members' RMS distance from c) x |o_i| added.
            var spread = queries.sub(centroids.index_select(0, assign)).pow(2).sum(1);
            var rms = zeros(centroids.shape[0], device: queries.device).index_add_(0, assign, spread, Scalars.One)
                .div_(sizes.to_type(queries.dtype).clamp_min(Scalars.One)).sqrt_()
                .mul_(tensor(reach, device: queries.device));
            centroidScores.add_(rms.unsqueeze(1).mul(rows.norm(1, true).t()), Scalars.One);
        }
        centroidScores.narrow(1, 0, 1).fill_(Scalars.NegativeInfinity); // the padding is never listed
        var (top, topItems) = centroidScores.topk(m, 1);

        Tensor? restLogZ = null, restMean = null;
        if (normalisers)
        {
            // The centroid's softmax over the items outside its candidates: their normaliser and mean output row.
            var max = top.narrow(1, 0, 1);
            var w = centroidScores.sub(max).exp_();
            w.scatter_(1, topItems, zeros_like(top));
            var z = w.sum(1, keepdim: true);
            restMean = w.mm(rows).div_(z.clamp_min(Floor));
            restLogZ = z.log_().add_(max, Scalars.One);
        }

        var outItems = empty(n, kept, ScalarType.Int64, device: queries.device);
        var outScores = empty(n, kept, ScalarType.Float32, device: queries.device);
        var rowMax = normalisers ? empty(n, device: queries.device) : null;
        var rowZ = normalisers ? empty(n, device: queries.device) : null;
        var counts = sizes.cpu().data<long>().ToArray();
        var order = assign.argsort();
        long from = 0;
        for (int c = 0; c < counts.Length; c++)
        {
            if (counts[c] == 0) continue;
            var members = order.narrow(0, from, counts[c]);
            from += counts[c];
            var q = queries.index_select(0, members);
            var itemsOf = topItems[c];
            var scores = q.mm(rows.index_select(0, itemsOf).t()).add_(bias.index_select(0, itemsOf).unsqueeze(0), Scalars.One);
            var (values, at) = scores.topk(kept, 1);
            outItems.index_copy_(0, members, itemsOf.index_select(0, at.flatten()).view(at.shape));
            outScores.index_copy_(0, members, values);
            if (!normalisers) continue;
            var best = values.narrow(1, 0, 1);
            var rest = q.sub(centroids[c]).mv(restMean![c]).add_(restLogZ![c], Scalars.One).unsqueeze(1);
            // Z relative to the row's best candidate: its candidates' exact terms plus the rest's.
            var z = scores.sub(best).exp_().sum(1).add_(rest.sub(best).exp_().squeeze(1), Scalars.One);
            rowMax!.index_copy_(0, members, best.squeeze(1));
            rowZ!.index_copy_(0, members, z);
        }
        return (outItems, outScores, rowMax?.cpu().to_type(ScalarType.Float64).data<double>().ToArray(),
            rowZ?.cpu().to_type(ScalarType.Float64).data<double>().ToArray());
    }

    /// <summary>k-means (Lloyd, <paramref name="clusters"/> centroids from evenly spaced rows): centroids [C, H] and
    /// each row's cluster [n].</summary>
    (Tensor Centroids, Tensor Assign) Clusters(Tensor queries, int clusters)
    {
        int n = (int)queries.shape[0];
        var starts = Enumerable.Range(0, clusters).Select(c => (long)c * n / clusters).ToArray();
        var centroids = queries.index_select(0, tensor(starts, device: queries.device));
        Tensor Assign(Tensor cs) => queries.mm(cs.t()).sub_(cs.mul(cs).sum(1).mul_(Half).unsqueeze(0)).argmax(1);
        for (int i = 0; i < iterations && clusters > 1; i++)
        {
            var assign = Assign(centroids);
            var sums = zeros_like(centroids).index_add_(0, assign, queries, Scalars.One);
            var counts = assign.bincount(null, clusters).to_type(queries.dtype).unsqueeze(1);
            // An emptied cluster keeps its centroid.
            centroids = where(counts.gt(Scalars.IntZero), sums.div(counts.clamp_min(Scalars.One)), centroids);
        }
        return (centroids, clusters > 1 ? Assign(centroids) : zeros(n, ScalarType.Int64, device: queries.device));
    }

    public override string ToString() => $"clusters of ~{usersPerCluster} users, {candidates} candidates each" + (reach > 0 ? $", reach {reach}" : "");
}
