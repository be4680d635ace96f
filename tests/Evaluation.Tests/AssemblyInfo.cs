// The RNN rankers train through libtorch, whose random generator and thread count are process-wide: tests that train
// in parallel would draw from each other's generator and change each other's threads mid-training.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
