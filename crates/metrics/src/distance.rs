//! Blocked pairwise squared Euclidean distances: a tile of rows of one set against every row of
//! the other, as ‖a‖² + ‖b‖² − 2 a·b with the products from a matrix multiply, streamed to a
//! visitor so that the full N × M matrix (800 MB at 10,000²) never exists.

use std::ops::Range;

use crate::features::FeatureMatrix;
use crate::linalg::{gemm_abt, row_norms_sq};

/// Rows of the first set per tile: a 128 × 10,000 tile is 10 MB per thread, large enough for the
/// matrix multiply to run at full speed and small enough to stay cheap in memory.
const ROW_BLOCK: usize = 128;

/// A feature set ready for distance computation: its rows minus a common centre (distances do not
/// change, and the expansion ‖a‖² + ‖b‖² − 2a·b loses fewer digits to cancellation near the
/// origin) and their squared norms.
pub(crate) struct Prepared {
    data: Vec<f64>,
    norms: Vec<f64>,
    rows: usize,
    dim: usize,
}

impl Prepared {
    pub(crate) fn new(m: &FeatureMatrix, centre: &[f64]) -> Self {
        let data: Vec<f64> = m
            .as_slice()
            .chunks_exact(m.dim())
            .flat_map(|r| r.iter().zip(centre).map(|(x, c)| x - c))
            .collect();
        let norms = row_norms_sq(&data, m.dim());
        Self {
            data,
            norms,
            rows: m.rows(),
            dim: m.dim(),
        }
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }
}

/// Streams the squared distances between every row of `a` and every row of `b`.
///
/// `a`'s rows are split into `threads` contiguous ranges; each thread starts its own state with
/// `init(range)` and passes it, tile by tile in row order, to `visit(state, first_row, tile)`,
/// where `tile` is row-major (rows `first_row..` of `a`) × `b.rows()`. The states come back in
/// row order. With `same_set`, `a` and `b` are the same rows and the diagonal is exactly 0 (as
/// scikit-learn sets it), not the expansion's rounding residue.
pub(crate) fn scan_sq_distances<S, I, V>(
    a: &Prepared,
    b: &Prepared,
    same_set: bool,
    threads: usize,
    init: I,
    visit: V,
) -> Vec<S>
where
    S: Send,
    I: Fn(Range<usize>) -> S + Sync,
    V: Fn(&mut S, usize, &[f64]) + Sync,
{
    let threads = threads.clamp(1, a.rows.div_ceil(ROW_BLOCK).max(1));
    let per_thread = a.rows.div_ceil(threads);
    let ranges: Vec<Range<usize>> = (0..threads)
        .map(|t| (t * per_thread).min(a.rows)..((t + 1) * per_thread).min(a.rows))
        .collect();
    let work = |range: Range<usize>| {
        let mut state = init(range.clone());
        let mut tile = vec![0.0; ROW_BLOCK.min(range.len()) * b.rows];
        let mut start = range.start;
        while start < range.end {
            let end = (start + ROW_BLOCK).min(range.end);
            let rows = end - start;
            let tile = &mut tile[..rows * b.rows];
            sq_distance_tile(a, start..end, b, tile);
            if same_set {
                for i in start..end {
                    tile[(i - start) * b.rows + i] = 0.0;
                }
            }
            visit(&mut state, start, tile);
            start = end;
        }
        state
    };
    if threads == 1 {
        return vec![work(ranges[0].clone())];
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = ranges
            .into_iter()
            .map(|range| scope.spawn(move || work(range)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("distance worker panicked"))
            .collect()
    })
}

/// Squared distances of `a`'s `rows` against all of `b`, clamped at 0 (the expansion can round a
/// tiny distance below zero).
fn sq_distance_tile(a: &Prepared, rows: Range<usize>, b: &Prepared, tile: &mut [f64]) {
    let a_rows = &a.data[rows.start * a.dim..rows.end * a.dim];
    gemm_abt(a_rows, rows.len(), &b.data, b.rows, a.dim, tile);
    for (t, &na) in tile.chunks_exact_mut(b.rows).zip(&a.norms[rows]) {
        for (d, &nb) in t.iter_mut().zip(&b.norms) {
            *d = (na + nb - 2.0 * *d).max(0.0);
        }
    }
}

/// The `count` smallest values of `row`, ascending, into `out` (cleared first).
pub(crate) fn smallest_sorted(row: &[f64], count: usize, out: &mut Vec<f64>) {
    out.clear();
    if count == 0 {
        return;
    }
    if count > 32 {
        // A partial sort beats insertion once the kept list is long.
        out.extend_from_slice(row);
        if count < out.len() {
            out.select_nth_unstable_by(count - 1, f64::total_cmp);
            out.truncate(count);
        }
        out.sort_unstable_by(f64::total_cmp);
        return;
    }
    for &x in row {
        if out.len() < count {
            let at = out.partition_point(|&y| y <= x);
            out.insert(at, x);
        } else if x < out[count - 1] {
            out.pop();
            let at = out.partition_point(|&y| y <= x);
            out.insert(at, x);
        }
    }
}
