//! Blocked pairwise products and squared Euclidean distances: a tile of rows of one set against
//! every row of the other (distances as ‖a‖² + ‖b‖² − 2 a·b with the products from a matrix
//! multiply), streamed to a visitor so that the full N × M matrix (800 MB at 10,000²) never exists.

use std::ops::Range;

use crate::features::FeatureMatrix;
use crate::linalg::{centred_rows, gemm_abt, row_norms_sq};

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
        let data = centred_rows(m.as_slice(), centre, 1.0);
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
/// See [`scan_tiles`] for `threads`, `init` and `visit`; each tile is row-major (rows
/// `first_row..` of `a`) × `b.rows()`. With `same_set`, `a` and `b` are the same rows and the
/// diagonal is exactly 0 (as scikit-learn sets it), not the expansion's rounding residue.
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
    let fill = |rows: Range<usize>, tile: &mut [f64]| {
        sq_distance_tile(a, rows.clone(), b, tile);
        if same_set {
            for i in rows.clone() {
                tile[(i - rows.start) * b.rows + i] = 0.0;
            }
        }
    };
    scan_tiles(a.rows, b.rows, threads, fill, init, visit)
}

/// Streams an `rows` × `cols` matrix in tiles of [`ROW_BLOCK`] rows, filled by `fill(rows, tile)`.
///
/// Tiles start at multiples of [`ROW_BLOCK`] whatever the thread count, so every tile, and with
/// it every value, is the same on any number of threads. The tiles are dealt in contiguous runs
/// to `threads` threads; each starts its own state with `init(rows it scans)` and passes it, tile
/// by tile in row order, to `visit(state, first_row, tile)`. The states come back in row order.
pub(crate) fn scan_tiles<S, F, I, V>(
    rows: usize,
    cols: usize,
    threads: usize,
    fill: F,
    init: I,
    visit: V,
) -> Vec<S>
where
    S: Send,
    F: Fn(Range<usize>, &mut [f64]) + Sync,
    I: Fn(Range<usize>) -> S + Sync,
    V: Fn(&mut S, usize, &[f64]) + Sync,
{
    let tiles = rows.div_ceil(ROW_BLOCK);
    let threads = threads.clamp(1, tiles.max(1));
    let per_thread = tiles.div_ceil(threads);
    let ranges: Vec<Range<usize>> = (0..threads)
        .map(|t| {
            let row = |tile: usize| (tile * ROW_BLOCK).min(rows);
            row(t * per_thread)..row((t + 1) * per_thread)
        })
        .collect();
    let work = |range: Range<usize>| {
        let mut state = init(range.clone());
        let mut tile = vec![0.0; ROW_BLOCK.min(range.len()) * cols];
        let mut start = range.start;
        while start < range.end {
            let end = (start + ROW_BLOCK).min(range.end);
            let tile = &mut tile[..(end - start) * cols];
            fill(start..end, tile);
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
            .map(|range| scope.spawn(|| work(range)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("tile worker panicked"))
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
