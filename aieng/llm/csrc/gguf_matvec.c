/* Fused dequantise-and-multiply for GGUF's Q4_1 and Q8_0 weight blocks (taught in Month 7).

   Decoding one token multiplies every weight matrix by one vector, so it is limited by how many bytes
   of weights cross from memory to the core, not by arithmetic. These kernels read the GGUF file's own
   4- and 8-bit codes (0.75 and 1.125 bytes per weight with the block scales widened to fp32, instead of
   4 bytes in fp32), rebuild each weight in a register
   exactly as the fp32 dequantisation does, and multiply it by the fp32 activations straight away.
   Only the order of the additions differs from a plain fp32 matrix product.

   Built on first use by aieng/kernels.py with the system C compiler; AVX-512 or AVX2 when the CPU has
   them, plain C otherwise. Rows are shared among OpenMP threads (torch's own OpenMP runtime). */
#include <stdint.h>
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

/* Rows are computed ROWS at a time: the loads of several rows are in flight together, which is what
   keeps memory busy (one row at a time ran at about a third of the speed on a 2-core Xeon). */
#if defined(__AVX512F__)
#define ROWS 8
#else
#define ROWS 4
#endif

/* Q4_1 block b of row n: w[j] = d * q[j] + m for j < 32. */
#if defined(__AVX512F__)
static inline void q4_1_block(const uint8_t *q16, float d, float m, __m512 *w0, __m512 *w1) {
    const __m128i low = _mm_set1_epi8(15);
    __m128i q = _mm_loadu_si128((const __m128i *)q16);
    __m512 vd = _mm512_set1_ps(d), vm = _mm512_set1_ps(m);
    *w0 = _mm512_fmadd_ps(vd, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(q, low))), vm);
    *w1 = _mm512_fmadd_ps(vd, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(q, 4), low))), vm);
}
#endif

/* y[m, n] = sum_k x[m, k] * w[n, k] for GGUF Q4_1 weights, blocks of 32 along k:
   w = d * q + mn with q in 0..15 (computed exactly as the fp32 dequantisation does).
   qs: [N, nb, 16] bytes, element j of a block in the low nibble of byte j, element j + 16 in the high one.
   d, mn: [N, nb] float32 scales and minimums. x: [M, K] float32. y: [M, N] float32. */
void q4_1_matvec(const uint8_t *qs, const float *d, const float *mn, const float *x,
                 float *y, int64_t M, int64_t N, int64_t K, int nthreads) {
    const int64_t nb = K / 32, groups = (N + ROWS - 1) / ROWS;
    #pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t g = 0; g < groups; g++) {
        const int64_t n0 = g * ROWS;
        const int rows = (int)(N - n0 < ROWS ? N - n0 : ROWS);
        for (int64_t m = 0; m < M; m++) {
            const float *xm = x + m * K;
#if defined(__AVX512F__)
            if (rows == ROWS) {
                __m512 a[ROWS][2];
                for (int r = 0; r < ROWS; r++) a[r][0] = a[r][1] = _mm512_setzero_ps();
                for (int r = 0; r < ROWS && n0 + ROWS + r < N; r++)
                    _mm_prefetch((const char *)(qs + (n0 + ROWS + r) * nb * 16), _MM_HINT_T0);
                for (int64_t b = 0; b < nb; b++) {
                    __m512 x0 = _mm512_loadu_ps(xm + b * 32), x1 = _mm512_loadu_ps(xm + b * 32 + 16);
                    for (int r = 0; r < ROWS; r++) {
                        const int64_t i = (n0 + r) * nb + b;
                        __m512 w0, w1;
                        q4_1_block(qs + i * 16, d[i], mn[i], &w0, &w1);
                        a[r][0] = _mm512_fmadd_ps(w0, x0, a[r][0]);
                        a[r][1] = _mm512_fmadd_ps(w1, x1, a[r][1]);
                    }
                }
                for (int r = 0; r < ROWS; r++) y[m * N + n0 + r] = _mm512_reduce_add_ps(_mm512_add_ps(a[r][0], a[r][1]));
                continue;
            }
            for (int r = 0; r < rows; r++) {
                __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
                for (int64_t b = 0; b < nb; b++) {
                    const int64_t i = (n0 + r) * nb + b;
                    __m512 w0, w1;
                    q4_1_block(qs + i * 16, d[i], mn[i], &w0, &w1);
                    a0 = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xm + b * 32), a0);
                    a1 = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xm + b * 32 + 16), a1);
                }
                y[m * N + n0 + r] = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
            }
#elif defined(__AVX2__)
            const __m128i low = _mm_set1_epi8(15);
            for (int r = 0; r < rows; r++) {
                __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
                for (int64_t b = 0; b < nb; b++) {
                    const int64_t i = (n0 + r) * nb + b;
                    __m128i q = _mm_loadu_si128((const __m128i *)(qs + i * 16));
                    __m128i lo = _mm_and_si128(q, low), hi = _mm_and_si128(_mm_srli_epi16(q, 4), low);
                    __m256 vd = _mm256_set1_ps(d[i]), vm = _mm256_set1_ps(mn[i]);
                    const float *xb = xm + b * 32;
                    a0 = _mm256_fmadd_ps(_mm256_fmadd_ps(vd, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo)), vm), _mm256_loadu_ps(xb), a0);
                    a1 = _mm256_fmadd_ps(_mm256_fmadd_ps(vd, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8))), vm), _mm256_loadu_ps(xb + 8), a1);
                    a0 = _mm256_fmadd_ps(_mm256_fmadd_ps(vd, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi)), vm), _mm256_loadu_ps(xb + 16), a0);
                    a1 = _mm256_fmadd_ps(_mm256_fmadd_ps(vd, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8))), vm), _mm256_loadu_ps(xb + 24), a1);
                }
                float s[8];
                _mm256_storeu_ps(s, _mm256_add_ps(a0, a1));
                y[m * N + n0 + r] = s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
            }
#else
            for (int r = 0; r < rows; r++) {
                float acc = 0.0f;
                for (int64_t b = 0; b < nb; b++) {
                    const int64_t i = (n0 + r) * nb + b;
                    const uint8_t *q = qs + i * 16;
                    const float *xb = xm + b * 32;
                    for (int j = 0; j < 16; j++) {
                        acc += (d[i] * (float)(q[j] & 15) + mn[i]) * xb[j];
                        acc += (d[i] * (float)(q[j] >> 4) + mn[i]) * xb[j + 16];
                    }
                }
                y[m * N + n0 + r] = acc;
            }
#endif
        }
    }
}

/* The same for GGUF Q8_0 weights, blocks of 32: w = d * q with q in -128..127. qs: [N, nb, 32] int8. */
void q8_0_matvec(const int8_t *qs, const float *d, const float *x, float *y,
                 int64_t M, int64_t N, int64_t K, int nthreads) {
    const int64_t nb = K / 32, groups = (N + ROWS - 1) / ROWS;
    #pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t g = 0; g < groups; g++) {
        const int64_t n0 = g * ROWS;
        const int rows = (int)(N - n0 < ROWS ? N - n0 : ROWS);
        for (int64_t m = 0; m < M; m++) {
            const float *xm = x + m * K;
#if defined(__AVX512F__)
            if (rows == ROWS) {
                __m512 a[ROWS][2];
                for (int r = 0; r < ROWS; r++) a[r][0] = a[r][1] = _mm512_setzero_ps();
                for (int r = 0; r < ROWS && n0 + ROWS + r < N; r++)
                    _mm_prefetch((const char *)(qs + (n0 + ROWS + r) * nb * 32), _MM_HINT_T0);
                for (int64_t b = 0; b < nb; b++) {
                    __m512 x0 = _mm512_loadu_ps(xm + b * 32), x1 = _mm512_loadu_ps(xm + b * 32 + 16);
                    for (int r = 0; r < ROWS; r++) {
                        const int64_t i = (n0 + r) * nb + b;
                        __m256i q = _mm256_loadu_si256((const __m256i *)(qs + i * 32));
                        __m512 vd = _mm512_set1_ps(d[i]);
                        __m512 w0 = _mm512_mul_ps(vd, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(q))));
                        __m512 w1 = _mm512_mul_ps(vd, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(q, 1))));
                        a[r][0] = _mm512_fmadd_ps(w0, x0, a[r][0]);
                        a[r][1] = _mm512_fmadd_ps(w1, x1, a[r][1]);
                    }
                }
                for (int r = 0; r < ROWS; r++) y[m * N + n0 + r] = _mm512_reduce_add_ps(_mm512_add_ps(a[r][0], a[r][1]));
                continue;
            }
#endif
            for (int r = 0; r < rows; r++) {
                float acc = 0.0f;
                for (int64_t b = 0; b < nb; b++) {
                    const int64_t i = (n0 + r) * nb + b;
                    float t = 0.0f;
                    for (int j = 0; j < 32; j++) t += (d[i] * (float)qs[i * 32 + j]) * xm[b * 32 + j];
                    acc += t;
                }
                y[m * N + n0 + r] = acc;
            }
        }
    }
}
