/* Fused dequantise-and-multiply for GGUF's Q4_1 and Q8_0 weight blocks (taught in Month 7).

   Decoding one token multiplies every weight matrix by one vector, so it is limited by how many bytes
   of weights cross from memory to the core, not by arithmetic. These kernels read the GGUF file's own
   4- and 8-bit codes (0.75 and 1.125 bytes per weight with the block scales widened to fp32, instead of
   4 bytes in fp32), rebuild each weight in a register
   exactly as the fp32 dequantisation does, and multiply it by the fp32 activations straight away.
   Only the order of the additions differs from a plain fp32 matrix product.

   Built on first use by aieng/kernels.py with the system C compiler; AVX-512 or AVX2 when the CPU has
   them, plain C otherwise. Rows are shared among OpenMP threads (torch's own OpenMP runtime). */
#include <math.h>
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

/* ------------------------------------------------------------------------------------------------
   One decoding step of a Llama model, every layer in C (taught in Month 7, "count the bytes").

   A token's arithmetic outside the matrix products is tiny: two RMSNorms, the rotary embedding, the
   attention of 9 heads over the cache and a SiLU per layer. Done as PyTorch calls it was about twenty
   small operations a layer, about 200 microseconds of Python and dispatch, as long again as the
   products themselves. Here it is plain loops between the same kernels, so a token costs about the
   time of reading its weights. Each step mirrors transformers' Llama operation for operation
   (RMSNorm as x * rsqrt(mean(x^2) + eps) * w, rotate-half rotary, softmax(q k / sqrt(d)) v with the
   query heads sharing key/value heads in groups); only the order of additions differs. */

typedef struct {
    int32_t kind;               /* 0: Q4_1, 1: Q8_0 */
    const void *qs;
    const float *d, *m;         /* m is NULL for Q8_0 */
    int64_t N, K;
} bmat_t;

typedef struct {
    const float *norm1, *norm2; /* RMSNorm weights [hidden] */
    float eps1, eps2;
    bmat_t qkv, o, gate_up, down;
    float *k, *v;               /* key and value cache [n_kv, capacity, head_dim] */
} layer_t;

static void bmat_matvec(const bmat_t *w, const float *x, float *y, int nthreads) {
    if (w->kind == 0)
        q4_1_matvec((const uint8_t *)w->qs, w->d, w->m, x, y, 1, w->N, w->K, nthreads);
    else
        q8_0_matvec((const int8_t *)w->qs, w->d, x, y, 1, w->N, w->K, nthreads);
}

static void rms_norm(const float *x, const float *w, float eps, float *out, int64_t n) {
    float ss = 0.0f;
    for (int64_t j = 0; j < n; j++) ss += x[j] * x[j];
    const float r = 1.0f / sqrtf(ss / (float)n + eps);
    for (int64_t j = 0; j < n; j++) out[j] = w[j] * (x[j] * r);
}

/* x * cos + rotate_half(x) * sin, in place, for one head of size hd. */
static void rotary(float *x, const float *cos, const float *sin, int hd) {
    const int half = hd / 2;
    for (int j = 0; j < half; j++) {
        const float a = x[j], b = x[j + half];
        x[j] = a * cos[j] - b * sin[j];
        x[j + half] = b * cos[j + half] + a * sin[j + half];
    }
}

/* The new token's hidden state x [hidden] goes through every layer (its key and value written into
   the caches at position pos); then the final norm and the output head give logits [vocab].
   scratch: at least hidden + (n_heads + 2 n_kv) hd + n_heads hd + n_heads (pos + 1) + 3 ffn floats. */
void llama_decode_step(const layer_t *layers, int n_layers, float *x, int64_t hidden,
                       const float *cos, const float *sin, int64_t capacity, int64_t pos,
                       int n_heads, int n_kv, int hd, int64_t ffn,
                       const float *norm, float norm_eps, const bmat_t *head, float *logits,
                       float *scratch, int nthreads) {
    const int64_t q_size = (int64_t)n_heads * hd, kv_size = (int64_t)n_kv * hd, T = pos + 1;
    const int group = n_heads / n_kv;
    const float scale = 1.0f / sqrtf((float)hd);
    float *h = scratch, *qkv = h + hidden, *att = qkv + q_size + 2 * kv_size;
    float *scores = att + q_size, *gu = scores + (int64_t)n_heads * T, *act = gu + 2 * ffn;
    for (int l = 0; l < n_layers; l++) {
        const layer_t *L = layers + l;
        rms_norm(x, L->norm1, L->eps1, h, hidden);
        bmat_matvec(&L->qkv, h, qkv, nthreads);
        float *q = qkv, *k = qkv + q_size, *v = k + kv_size;
        for (int i = 0; i < n_heads; i++) rotary(q + (int64_t)i * hd, cos, sin, hd);
        for (int i = 0; i < n_kv; i++) {
            rotary(k + (int64_t)i * hd, cos, sin, hd);
            float *kc = L->k + ((int64_t)i * capacity + pos) * hd, *vc = L->v + ((int64_t)i * capacity + pos) * hd;
            for (int j = 0; j < hd; j++) { kc[j] = k[(int64_t)i * hd + j]; vc[j] = v[(int64_t)i * hd + j]; }
        }
        #pragma omp parallel for num_threads(nthreads) schedule(static)
        for (int i = 0; i < n_heads; i++) {
            const float *qi = q + (int64_t)i * hd;
            const float *kh = L->k + (int64_t)(i / group) * capacity * hd, *vh = L->v + (int64_t)(i / group) * capacity * hd;
            float *s = scores + (int64_t)i * T, *out = att + (int64_t)i * hd, top = -INFINITY, total = 0.0f;
            for (int64_t t = 0; t < T; t++) {
                float dot = 0.0f;
                for (int j = 0; j < hd; j++) dot += qi[j] * kh[t * hd + j];
                s[t] = dot * scale;
                if (s[t] > top) top = s[t];
            }
            for (int64_t t = 0; t < T; t++) { s[t] = expf(s[t] - top); total += s[t]; }
            for (int j = 0; j < hd; j++) out[j] = 0.0f;
            for (int64_t t = 0; t < T; t++) {
                const float p = s[t] / total;
                for (int j = 0; j < hd; j++) out[j] += p * vh[t * hd + j];
            }
        }
        bmat_matvec(&L->o, att, h, nthreads);
        for (int64_t j = 0; j < hidden; j++) x[j] += h[j];
        rms_norm(x, L->norm2, L->eps2, h, hidden);
        bmat_matvec(&L->gate_up, h, gu, nthreads);
        for (int64_t j = 0; j < ffn; j++) { const float g = gu[j]; act[j] = g / (1.0f + expf(-g)) * gu[ffn + j]; }
        bmat_matvec(&L->down, act, h, nthreads);
        for (int64_t j = 0; j < hidden; j++) x[j] += h[j];
    }
    rms_norm(x, norm, norm_eps, h, hidden);
    bmat_matvec(head, h, logits, nthreads);
}
