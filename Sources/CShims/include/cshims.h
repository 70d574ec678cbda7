#ifndef BATCHRUN_CSHIMS_H
#define BATCHRUN_CSHIMS_H

/// Asks the CPU to start loading the cache line at `p` for a read soon (no fault, no
/// wait): Swift has no prefetch of its own. The external sort uses it to overlap the
/// cache misses of writing a sorted run, whose records are read in key order from
/// scattered places.
static inline void batchrun_prefetch(const void *p) {
    __builtin_prefetch(p, 0, 0);
}

/// The same for a line about to be written and read again (a hash table's slot): kept
/// in every cache level.
static inline void batchrun_prefetch_write(const void *p) {
    __builtin_prefetch(p, 1, 3);
}

/// A line read now and again soon (a lookup table's entry): kept in every cache level.
static inline void batchrun_prefetch_keep(const void *p) {
    __builtin_prefetch(p, 0, 3);
}

#endif
