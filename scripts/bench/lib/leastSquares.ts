/**
 * Ordinary least squares: the coefficients c minimizing |X c - y|² (normal equations XᵀX c = Xᵀy,
 * solved by Gaussian elimination with partial pivoting). For a handful of columns (a benchmark's
 * cost model), not for ill-conditioned problems: a column that is all zeros or a copy of another
 * gets coefficient 0.
 */
export function leastSquares(x: readonly (readonly number[])[], y: readonly number[]): number[] {
  if (x.length !== y.length) throw new RangeError(`leastSquares: ${x.length} rows of X but ${y.length} values of y`);
  const m = x[0]?.length ?? 0;
  const a = Array.from({ length: m }, () => Array.from({ length: m + 1 }, () => 0)); // [XᵀX | Xᵀy]
  for (const [r, row] of x.entries()) {
    if (row.length !== m) throw new RangeError(`leastSquares: row ${r} of X has ${row.length} columns, row 0 has ${m}`);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < m; j++) a[i][j] += row[i] * row[j];
      a[i][m] += row[i] * y[r];
    }
  }
  const scale = Math.max(...a.map((row, i) => Math.abs(row[i])), 0);
  const pivoted = Array.from({ length: m }, () => false);
  for (let col = 0; col < m; col++) {
    let best = col;
    for (let r = col + 1; r < m; r++) if (Math.abs(a[r][col]) > Math.abs(a[best][col])) best = r;
    [a[col], a[best]] = [a[best], a[col]];
    if (Math.abs(a[col][col]) <= scale * 1e-12) continue; // a column nothing determines
    pivoted[col] = true;
    for (let r = 0; r < m; r++) {
      if (r === col) continue;
      const f = a[r][col] / a[col][col];
      for (let j = col; j <= m; j++) a[r][j] -= f * a[col][j];
    }
  }
  return a.map((row, i) => (pivoted[i] ? row[m] / row[i] : 0));
}
