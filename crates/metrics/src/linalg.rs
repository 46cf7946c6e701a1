//! Matrix products on row-major buffers (matrixmultiply, which takes any strides, so transposes
//! cost nothing) and the feature statistics built from them.

use nalgebra::{DMatrix, DVector};

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
    // bᵀ is `b` read with swapped strides: element (k, j) at j·dim + k.
    strided_gemm(a_rows, dim, b_rows, (a, dim, 1), (b, 1, dim), out);
}

/// `out` (row-major `m` × `n`) = A · B, with A (`m` × `k`) and B (`k` × `n`) given as
/// (buffer, row stride, column stride).
fn strided_gemm(
    m: usize,
    k: usize,
    n: usize,
    (a, rsa, csa): (&[f64], usize, usize),
    (b, rsb, csb): (&[f64], usize, usize),
    out: &mut [f64],
) {
    assert_eq!(out.len(), m * n, "output buffer size");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        out.fill(0.0);
        return;
    }
    // The last element each operand's strides reach must lie inside its buffer.
    assert!(
        (m - 1) * rsa + (k - 1) * csa < a.len(),
        "A is out of bounds"
    );
    assert!(
        (k - 1) * rsb + (n - 1) * csb < b.len(),
        "B is out of bounds"
    );
    // SAFETY: the assertions above keep every element matrixmultiply reads inside `a` and `b`,
    // and `out` holds exactly m × n elements at row stride n and column stride 1; the slices are
    // distinct borrows, so nothing aliases the output. With beta = 0 `out` is not read.
    unsafe {
        matrixmultiply::dgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa as isize,
            csa as isize,
            b.as_ptr(),
            rsb as isize,
            csb as isize,
            0.0,
            out.as_mut_ptr(),
            n as isize,
            1,
        );
    }
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

/// Mean vector and unbiased covariance (divisor n − 1, like `numpy.cov`) of a row-major
/// `rows` × `dim` buffer; `rows` ≥ 2.
pub(crate) fn mean_and_covariance(
    data: &[f64],
    rows: usize,
    dim: usize,
) -> (DVector<f64>, DMatrix<f64>) {
    debug_assert!(rows >= 2);
    let mean = column_means(data, rows, dim);
    // Centre first: Σ = Xcᵀ Xc / (n − 1) has no cancellation, unlike E[xxᵀ] − μμᵀ.
    let centred: Vec<f64> = data
        .chunks_exact(dim)
        .flat_map(|r| r.iter().zip(&mean).map(|(x, m)| x - m))
        .collect();
    // Xcᵀ Xc: Xcᵀ is the row-major buffer read with swapped strides.
    let mut gram = vec![0.0; dim * dim];
    strided_gemm(
        dim,
        rows,
        dim,
        (&centred, 1, dim),
        (&centred, dim, 1),
        &mut gram,
    );
    let cov = DMatrix::from_row_slice(dim, dim, &gram) / (rows as f64 - 1.0);
    // The product is symmetric up to rounding; make it exactly so for the eigensolver.
    let cov = (&cov + cov.transpose()) * 0.5;
    (DVector::from_vec(mean), cov)
}
