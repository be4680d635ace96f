// Training reseeds libtorch's global generator per epoch (that is what makes resume exact); tests that train in
// parallel would draw from each other's generator.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
