/**
 * The kernel seam: every hot loop of the tensor core lives here, over plain Float32Arrays.
 *
 * Ops in `tensor.ts` never loop over storage for matmul, reductions or the fused layers themselves;
 * they call these functions. A faster implementation (WebAssembly SIMD, blocked loops) can replace
 * a kernel by installing itself with `setKernels`, and the plain TypeScript versions below stay as
 * the reference that tests compare against.
 *
 * Conventions: row-major, contiguous. `acc` means "C += result" (backward passes accumulate into
 * existing gradients, never assign); otherwise "C = result".
 */

export interface Kernels {
  /**
   * C(m,n) (+)= op(A)(m,k) @ op(B)(k,n), where op(A) = A (m,k) or A^T with A stored (k,m);
   * op(B) = B (k,n) or B^T with B stored (n,k).
   */
  gemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    A: Float32Array,
    B: Float32Array,
    C: Float32Array,
    acc: boolean,
  ): void;
}

/** Plain TypeScript reference kernels. Loop orders keep the innermost loop on contiguous memory. */
export const referenceKernels: Kernels = {
  gemm(transA, transB, m, n, k, A, B, C, acc) {
    if (!acc) C.fill(0, 0, m * n);
    if (!transA && !transB) {
      // i-p-j: C[i,:] += A[i,p] * B[p,:]; the j loop streams one row of B and one row of C.
      for (let i = 0; i < m; i++) {
        const ci = i * n;
        const ai = i * k;
        for (let p = 0; p < k; p++) {
          const a = A[ai + p];
          if (a === 0) continue;
          const bp = p * n;
          for (let j = 0; j < n; j++) C[ci + j] += a * B[bp + j];
        }
      }
    } else if (!transA && transB) {
      // C[i,j] = dot(A[i,:], B[j,:]): both rows contiguous. Four accumulators break the add chain.
      for (let i = 0; i < m; i++) {
        const ai = i * k;
        for (let j = 0; j < n; j++) {
          const bj = j * k;
          let s0 = 0;
          let s1 = 0;
          let s2 = 0;
          let s3 = 0;
          let p = 0;
          for (; p + 3 < k; p += 4) {
            s0 += A[ai + p] * B[bj + p];
            s1 += A[ai + p + 1] * B[bj + p + 1];
            s2 += A[ai + p + 2] * B[bj + p + 2];
            s3 += A[ai + p + 3] * B[bj + p + 3];
          }
          for (; p < k; p++) s0 += A[ai + p] * B[bj + p];
          C[i * n + j] += s0 + s1 + s2 + s3;
        }
      }
    } else if (transA && !transB) {
      // A stored (k,m): C[i,:] += A[p,i] * B[p,:], p outermost so both A and B rows are read in order.
      for (let p = 0; p < k; p++) {
        const ap = p * m;
        const bp = p * n;
        for (let i = 0; i < m; i++) {
          const a = A[ap + i];
          if (a === 0) continue;
          const ci = i * n;
          for (let j = 0; j < n; j++) C[ci + j] += a * B[bp + j];
        }
      }
    } else {
      // Both transposed: rare (never in the lecture); C[i,j] += sum_p A[p,i] * B[j,p].
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let p = 0; p < k; p++) s += A[p * m + i] * B[j * k + p];
          C[i * n + j] += s;
        }
      }
    }
  },
};

let active: Kernels = referenceKernels;

/** The kernels in use. Ops call `kernels().gemm(...)`. */
export function kernels(): Kernels {
  return active;
}

/** Install a faster implementation (tests compare it against `referenceKernels`). */
export function setKernels(k: Kernels): void {
  active = k;
}
