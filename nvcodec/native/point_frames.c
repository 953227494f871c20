/* The frames loop of the dense fitting kernel (nvcodec/fit/dense.py, _PointSetCall.chunk) in one
 * pass: for a chunk of points, the synthesis layers' forward and backward in every frame of the
 * set, block by block of NB points, without leaving the block's L1-sized scratch arrays.
 *
 * The torch path runs ~40 elementwise passes per frame and layer between the matrix products;
 * here they are fused into the products' loops (benchmarks/RESULTS.md, eleventh session).
 *
 * Compiled at run time by nvcodec/native for one network shape:
 *   NW width, NM modulated units (<= NW), ND depth, NP the power of two >= NW.
 * Rounding is deterministic and the same for every vector width the compiler picks: products
 * and sums are written in a fixed order, multiply-adds are explicit fmaf (built with
 * -ffp-contract=off, no -ffast-math), and no loop reduces across vector lanes.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#if !defined(NW) || !defined(NM) || !defined(ND) || !defined(NP)
#error "NW, NM, ND and NP must be defined"
#endif

#define NB 16 /* points per block: a multiple of 4 */
#define NH (ND > 1 ? ND - 1 : 1) /* hidden weight matrices (array size; ND - 1 are used) */

/* sin and cos of x, |x| < 2^22 pi: x = k pi + r with |r| <= pi/2 (three-part pi), Taylor
 * polynomials to r^11 / r^12 (truncation below 6e-8), sign (-1)^k. */
static inline void sincos_f(float x, float *s, float *c)
{
    const float shifter = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float k = (x * 0.318309886183790672f + shifter) - shifter;
    float r = fmaf(-k, 3.140625f, x);
    r = fmaf(-k, 9.67502593994140625e-4f, r);
    r = fmaf(-k, 1.509957990978376432e-7f, r);
    float r2 = r * r;
    float ps = fmaf(-2.50521084e-8f, r2, 2.75573192e-6f);
    ps = fmaf(ps, r2, -1.98412698e-4f);
    ps = fmaf(ps, r2, 8.33333333e-3f);
    ps = fmaf(ps, r2, -1.66666667e-1f);
    float pc = fmaf(2.08767570e-9f, r2, -2.75573192e-7f);
    pc = fmaf(pc, r2, 2.48015873e-5f);
    pc = fmaf(pc, r2, -1.38888889e-3f);
    pc = fmaf(pc, r2, 4.16666667e-2f);
    pc = fmaf(pc, r2, -0.5f);
    float sign = 1.0f - 2.0f * (float)((int32_t)k & 1);
    *s = sign * fmaf(ps * r2, r, r);
    *c = sign * fmaf(pc, r2, 1.0f);
}

/* p[0] + ... + p[NW - 1] in a fixed pairwise order (p has NP entries, zero past NW). */
static inline float tree_sum(float *p)
{
    for (int half = NP / 2; half >= 1; half /= 2)
        for (int j = 0; j < half; j++)
            p[j] = p[j] + p[j + half];
    return p[0];
}

struct weights {
    const float *restrict w_t;   /* [ND-1][NW][NW]: W_i^T omega, w_t[k][j] = omega W_i[j][k] */
    const float *restrict w;     /* [ND-1][NW][NW]: omega W_i */
    const float *restrict b;     /* [ND-1][NW]: omega b_i */
    const float *restrict out_w; /* [3][NW] */
    const float *restrict out_b; /* [3] */
};

struct block {
    float s[ND][NB][NW]; /* sines of every layer */
    float c[ND][NB][NW]; /* cosines */
    float h[ND][NB][NW]; /* outputs (modulated sines) */
    float dh[NB][NW];
    float dn[NB][NW];
    float diff[NB][3];
};

/* y[b] = bias + x[b] m for the NB rows of a block (m [NW][NW] row-major: y[b][j] = sum_q x[b][q] m[q][j],
 * summed over q in order), four rows at a time so that the accumulators stay in registers. */
static inline void rows_times(float (*restrict y)[NW], const float (*restrict x)[NW], const float *restrict m,
                              const float *restrict bias)
{
    for (int b = 0; b < NB; b += 4) {
        float a0[NW], a1[NW], a2[NW], a3[NW];
        for (int j = 0; j < NW; j++)
            a0[j] = a1[j] = a2[j] = a3[j] = bias ? bias[j] : 0.0f;
        for (int q = 0; q < NW; q++) {
            const float x0 = x[b][q], x1 = x[b + 1][q], x2 = x[b + 2][q], x3 = x[b + 3][q];
            const float *restrict mq = m + q * NW;
            for (int j = 0; j < NW; j++) {
                a0[j] = fmaf(x0, mq[j], a0[j]);
                a1[j] = fmaf(x1, mq[j], a1[j]);
                a2[j] = fmaf(x2, mq[j], a2[j]);
                a3[j] = fmaf(x3, mq[j], a3[j]);
            }
        }
        for (int j = 0; j < NW; j++) {
            y[b][j] = a0[j];
            y[b + 1][j] = a1[j];
            y[b + 2][j] = a2[j];
            y[b + 3][j] = a3[j];
        }
    }
}

/* gw[j][q] += sum_{b < nb} d[b][j] x[b][q], summed over b in order, four rows j at a time */
static inline void add_outer(float *restrict gw, const float (*restrict d)[NW], const float (*restrict x)[NW], int nb)
{
    for (int j = 0; j + 4 <= NW; j += 4) {
        float a0[NW], a1[NW], a2[NW], a3[NW];
        for (int q = 0; q < NW; q++) {
            a0[q] = gw[j * NW + q];
            a1[q] = gw[(j + 1) * NW + q];
            a2[q] = gw[(j + 2) * NW + q];
            a3[q] = gw[(j + 3) * NW + q];
        }
        for (int b = 0; b < nb; b++) {
            const float d0 = d[b][j], d1 = d[b][j + 1], d2 = d[b][j + 2], d3 = d[b][j + 3];
            for (int q = 0; q < NW; q++) {
                a0[q] = fmaf(d0, x[b][q], a0[q]);
                a1[q] = fmaf(d1, x[b][q], a1[q]);
                a2[q] = fmaf(d2, x[b][q], a2[q]);
                a3[q] = fmaf(d3, x[b][q], a3[q]);
            }
        }
        for (int q = 0; q < NW; q++) {
            gw[j * NW + q] = a0[q];
            gw[(j + 1) * NW + q] = a1[q];
            gw[(j + 2) * NW + q] = a2[q];
            gw[(j + 3) * NW + q] = a3[q];
        }
    }
    for (int j = NW - NW % 4; j < NW; j++)
        for (int b = 0; b < nb; b++)
            for (int q = 0; q < NW; q++)
                gw[j * NW + q] = fmaf(d[b][j], x[b][q], gw[j * NW + q]);
}

/* the block's layer outputs; rows past nb are zero inputs (computed, never accumulated) */
static void forward(struct block *restrict k, const struct weights *p, int nb, const float *restrict sin_a,
                    const float *restrict cos_a, const float *restrict zp, const float *restrict cos_t,
                    const float *restrict sin_t)
{
    for (int b = 0; b < NB; b++) {
        const float *restrict sa = sin_a + (int64_t)b * NW, *restrict ca = cos_a + (int64_t)b * NW;
        const float *restrict g = zp + (int64_t)b * ND * NM;
        if (b >= nb) {
            for (int j = 0; j < NW; j++)
                k->s[0][b][j] = k->c[0][b][j] = k->h[0][b][j] = 0.0f;
            continue;
        }
        for (int j = 0; j < NW; j++) {
            float s = fmaf(ca[j], sin_t[j], sa[j] * cos_t[j]);
            k->s[0][b][j] = s;
            k->c[0][b][j] = fmaf(-sa[j], sin_t[j], ca[j] * cos_t[j]);
            k->h[0][b][j] = j < NM ? s * g[j] : s;
        }
    }
    for (int i = 1; i < ND; i++) {
        rows_times(k->dn, (const float (*)[NW])k->h[i - 1], p->w_t + (int64_t)(i - 1) * NW * NW,
                   p->b + (int64_t)(i - 1) * NW);
        for (int b = 0; b < NB; b++) {
            const float *restrict g = zp + (int64_t)(b < nb ? b : 0) * ND * NM + i * NM;
            for (int j = 0; j < NW; j++) {
                float s, c;
                sincos_f(k->dn[b][j], &s, &c);
                k->s[i][b][j] = s;
                k->c[i][b][j] = c;
                k->h[i][b][j] = j < NM ? s * g[j] : s;
            }
        }
    }
}

/* out - target into k->diff, times the weight and 2 (d sse / d out); returns the block's weighted sse */
static double output_diff(struct block *restrict k, const struct weights *p, int nb, const float *restrict target,
                          const float *restrict weight)
{
    double sq = 0.0;
    for (int b = 0; b < nb; b++) {
        for (int o = 0; o < 3; o++) {
            float prod[NP];
            for (int j = 0; j < NP; j++)
                prod[j] = j < NW ? k->h[ND - 1][b][j] * p->out_w[o * NW + j] : 0.0f;
            float d = (tree_sum(prod) + p->out_b[o]) - target[b * 3 + o];
            float q = d * d;
            if (weight) {
                q = q * weight[b];
                d = d * weight[b];
            }
            sq += (double)q;
            k->diff[b][o] = 2.0f * d;
        }
    }
    return sq;
}

struct grads {
    float *restrict out_w, *restrict out_b, *restrict w, *restrict b; /* w, b: not yet times omega */
    float *restrict w1_t;                                            /* [NW] */
};

static void backward(struct block *restrict k, const struct weights *p, const struct grads *g, int nb,
                     const float *restrict zp, float *restrict dgs, float *restrict d_a, float tf)
{
    for (int o = 0; o < 3; o++)
        for (int b = 0; b < nb; b++) {
            float d = k->diff[b][o];
            g->out_b[o] += d;
            for (int j = 0; j < NW; j++)
                g->out_w[o * NW + j] = fmaf(d, k->h[ND - 1][b][j], g->out_w[o * NW + j]);
        }
    for (int b = 0; b < NB; b++)
        for (int j = 0; j < NW; j++)
            k->dh[b][j] = b < nb ? fmaf(k->diff[b][2], p->out_w[2 * NW + j],
                                        fmaf(k->diff[b][1], p->out_w[NW + j], k->diff[b][0] * p->out_w[j]))
                                 : 0.0f;
    for (int i = ND - 1; i >= 0; i--) {
        for (int b = 0; b < nb; b++) {
            const float *restrict gm = zp + (int64_t)b * ND * NM + i * NM;
            float *restrict dg = dgs + (int64_t)b * ND * NM + i * NM;
            for (int j = 0; j < NM; j++) {
                dg[j] = fmaf(k->dh[b][j], k->s[i][b][j], dg[j]);
                k->dh[b][j] = k->dh[b][j] * gm[j];
            }
            for (int j = 0; j < NW; j++)
                k->dh[b][j] = k->dh[b][j] * k->c[i][b][j]; /* d sse / d pre-activation (omega left out) */
        }
        if (i == 0)
            break;
        float *restrict gb = g->b + (int64_t)(i - 1) * NW;
        for (int b = 0; b < nb; b++)
            for (int j = 0; j < NW; j++)
                gb[j] += k->dh[b][j];
        add_outer(g->w + (int64_t)(i - 1) * NW * NW, (const float (*)[NW])k->dh, (const float (*)[NW])k->h[i - 1], nb);
        rows_times(k->dn, (const float (*)[NW])k->dh, p->w + (int64_t)(i - 1) * NW * NW, 0);
        memcpy(k->dh, k->dn, sizeof k->dh);
    }
    float col[NW];
    for (int j = 0; j < NW; j++)
        col[j] = 0.0f;
    for (int b = 0; b < nb; b++)
        for (int j = 0; j < NW; j++) {
            d_a[(int64_t)b * NW + j] += k->dh[b][j];
            col[j] += k->dh[b][j];
        }
    for (int j = 0; j < NW; j++)
        g->w1_t[j] = fmaf(tf, col[j], g->w1_t[j]);
}

/* Forward and backward of `rows` points in `frames` frames: accumulates into the gradient buffers and
 * returns the weighted sum of squared errors. Row r of frame f: target[f * t_stride + 3 r + c],
 * weight[f * w_stride + r] (weight may be NULL: every sample counts once). */
double nvc_point_frames(int64_t rows, int64_t frames, const float *sin_a, const float *cos_a, const float *zp,
                        const float *cos_t, const float *sin_t, const float *tf, const float *target,
                        int64_t t_stride, const float *weight, int64_t w_stride, const float *w_t, const float *w,
                        const float *b, const float *out_w, const float *out_b, float *g_out_w, float *g_out_b,
                        float *g_w, float *g_b, float *dgs, float *d_a, float *g_w1_t)
{
    _Alignas(64) struct block k; /* on the stack: one per call, so threads never share one */
    const struct weights p = {w_t, w, b, out_w, out_b};
    const struct grads g = {g_out_w, g_out_b, g_w, g_b, g_w1_t};
    double sq = 0.0;
    for (int64_t r0 = 0; r0 < rows; r0 += NB) {
        int nb = rows - r0 < NB ? (int)(rows - r0) : NB;
        const float *zb = zp + r0 * ND * NM;
        for (int64_t f = 0; f < frames; f++) {
            forward(&k, &p, nb, sin_a + r0 * NW, cos_a + r0 * NW, zb, cos_t + f * NW, sin_t + f * NW);
            sq += output_diff(&k, &p, nb, target + f * t_stride + r0 * 3, weight ? weight + f * w_stride + r0 : 0);
            backward(&k, &p, &g, nb, zb, dgs + r0 * ND * NM, d_a + r0 * NW, tf[f]);
        }
    }
    return sq;
}

/* sin and cos of n values (the kernel's own, exported for tests) */
void nvc_sincos(int64_t n, const float *restrict x, float *restrict s, float *restrict c)
{
    for (int64_t i = 0; i < n; i++)
        sincos_f(x[i], &s[i], &c[i]);
}
