//! Dense linear algebra on row-major buffers, through faer: matrix products, column statistics,
//! and the symmetric eigenvalue and singular value routines FID needs.
//!
//! Every call runs sequentially (`Par::Seq`, faer built without rayon): the metrics split their
//! work over threads themselves, so a result depends on the thread count alone, never on timing.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par, Side};

/// `out = a · bᵀ` for row-major `a` (`a_rows` × `dim`) and `b` (`b_rows` × `dim`); `out` is
/// row-major `a_rows` × `b_rows`.
pub(crate) fn gemm_abt(
    a: &[f64],
    a_rows: usize,
    b: &[f64],
    b_rows: usize,
    dim: usize,
    out: &mut [f64],
) {
    assert_eq!(a.len(), a_rows * dim, "A buffer size");
    assert_eq!(b.len(), b_rows * dim, "B buffer size");
    assert_eq!(out.len(), a_rows * b_rows, "output buffer size");
    let a = MatRef::from_row_major_slice(a, a_rows, dim);
    let b = MatRef::from_row_major_slice(b, b_rows, dim);
    let out = faer::MatMut::from_row_major_slice_mut(out, a_rows, b_rows);
    matmul(out, Accum::Replace, a, b.transpose(), 1.0, Par::Seq);
}

/// Squared Euclidean norm of each `dim`-wide row.
pub(crate) fn row_norms_sq(data: &[f64], dim: usize) -> Vec<f64> {
    data.chunks_exact(dim)
        .map(|r| r.iter().map(|x| x * x).sum())
        .collect()
}

/// Column means of a row-major `rows` × `dim` buffer.
pub(crate) fn column_means(data: &[f64], rows: usize, dim: usize) -> Vec<f64> {
    let mut mean = vec![0.0; dim];
    for r in data.chunks_exact(dim) {
        for (m, x) in mean.iter_mut().zip(r) {
            *m += x;
        }
    }
    for m in &mut mean {
        *m /= rows as f64;
    }
    mean
}

/// The rows of a row-major buffer minus `centre`, each multiplied by `scale`.
pub(crate) fn centred_rows(data: &[f64], centre: &[f64], scale: f64) -> Vec<f64> {
    data.chunks_exact(centre.len())
        .flat_map(|r| r.iter().zip(centre).map(move |(x, c)| (x - c) * scale))
        .collect()
}

/// `gᵀ g` of a row-major `rows` × `dim` buffer: `dim` × `dim`, made exactly symmetric.
pub(crate) fn gram_of_columns(g: &[f64], rows: usize, dim: usize) -> Mat<f64> {
    let g = MatRef::from_row_major_slice(g, rows, dim);
    let mut out = Mat::<f64>::zeros(dim, dim);
    matmul(
        out.as_mut(),
        Accum::Replace,
        g.transpose(),
        g,
        1.0,
        Par::Seq,
    );
    symmetrized(out)
}

/// `l · m · lᵀ` for `l` (r × d) and a symmetric `m` (d × d): r × r, made exactly symmetric.
pub(crate) fn congruence(l: MatRef<'_, f64>, m: MatRef<'_, f64>) -> Mat<f64> {
    let mut lm = Mat::<f64>::zeros(l.nrows(), m.ncols());
    matmul(lm.as_mut(), Accum::Replace, l, m, 1.0, Par::Seq);
    let mut out = Mat::<f64>::zeros(l.nrows(), l.nrows());
    matmul(
        out.as_mut(),
        Accum::Replace,
        lm.as_ref(),
        l.transpose(),
        1.0,
        Par::Seq,
    );
    symmetrized(out)
}

/// `a · bᵀ` of two faer matrices with the same column count.
pub(crate) fn product_abt(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Mat<f64> {
    let mut out = Mat::<f64>::zeros(a.nrows(), b.nrows());
    matmul(
        out.as_mut(),
        Accum::Replace,
        a,
        b.transpose(),
        1.0,
        Par::Seq,
    );
    out
}

/// (m + mᵀ) / 2: a product that is symmetric up to rounding, made exactly so for the eigensolver.
fn symmetrized(mut m: Mat<f64>) -> Mat<f64> {
    let n = m.nrows();
    for j in 0..n {
        for i in j + 1..n {
            let v = 0.5 * (m[(i, j)] + m[(j, i)]);
            m[(i, j)] = v;
            m[(j, i)] = v;
        }
    }
    m
}

/// Σ √max(λ, 0) over the eigenvalues λ of a symmetric positive semi-definite matrix: the trace
/// of its square root (negative eigenvalues come only from rounding).
pub(crate) fn trace_sqrt_psd(m: MatRef<'_, f64>) -> f64 {
    m.self_adjoint_eigenvalues(Side::Lower)
        .expect("the symmetric eigensolver converges on finite input")
        .iter()
        .map(|&l| l.max(0.0).sqrt())
        .sum()
}

/// The sum of the singular values of `m` (its nuclear norm).
pub(crate) fn nuclear_norm(m: MatRef<'_, f64>) -> f64 {
    m.singular_values()
        .expect("the SVD converges on finite input")
        .iter()
        .sum()
}

/// A factor `f` with `f fᵀ = m` of a symmetric positive semi-definite `m`, returned transposed:
/// the Cholesky factor L when `m` is positive definite, else V diag(√max(λ, 0)) from its
/// eigendecomposition (row i of the result is then √λᵢ vᵢᵀ).
pub(crate) fn psd_factor_t(m: MatRef<'_, f64>) -> Mat<f64> {
    if let Ok(llt) = m.llt(Side::Lower) {
        return llt.L().transpose().to_owned();
    }
    let eig = m
        .self_adjoint_eigen(Side::Lower)
        .expect("the symmetric eigensolver converges on finite input");
    let (u, s) = (eig.U(), eig.S());
    let s = s.column_vector();
    let n = m.nrows();
    Mat::from_fn(n, n, |i, j| s[i].max(0.0).sqrt() * u[(j, i)])
}

/// `a · b` of two faer matrices.
pub(crate) fn product(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Mat<f64> {
    let mut out = Mat::<f64>::zeros(a.nrows(), b.ncols());
    matmul(out.as_mut(), Accum::Replace, a, b, 1.0, Par::Seq);
    out
}
