/* The dense fitting kernel (nvcodec/fit/dense.py) for one point set in one pass: block by block
 * of NB points, the modulator and the first layer's point factors, then the synthesis layers'
 * forward and backward in every frame of the set, then the backward of what the frames share,
 * without leaving the block's L1-sized scratch arrays.
 *
 * The torch path runs ~40 elementwise passes per frame and layer between the matrix products,
 * and a few dozen small matrix products per chunk; here they are fused into loops over a block
 * (benchmarks/RESULTS.md, eleventh session).
 *
 * Compiled at run time by nvcodec/native for one network shape: NW width, NM modulated units
 * (<= NW), ND depth, NZ latent channels, NP the power of two >= NW.
 * Rounding is deterministic and the same for every vector width the compiler picks: products
 * and sums are written in a fixed order, multiply-adds are explicit fmaf (built with
 * -ffp-contract=off, no -ffast-math), and no loop reduces across vector lanes.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#if !defined(NW) || !defined(NM) || !defined(ND) || !defined(NZ) || !defined(NP)
#error "NW, NM, ND, NZ and NP must be defined"
#endif

#define NB 16       /* points per block: a multiple of 4 */
#define NG (ND * NM) /* modulations of all layers, side by side */
#define ALWAYS static inline __attribute__((always_inline))

/* sin and cos of x, |x| < 2^22 pi: x = k pi + r with |r| <= pi/2 (three-part pi), Taylor
 * polynomials to r^11 / r^12 (truncation below 6e-8), sign (-1)^k. */
ALWAYS void sincos_f(float x, float *s, float *c)
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

/* p[0] + ... + p[NP - 1] in a fixed pairwise order */
ALWAYS float tree_sum(float *p)
{
    for (int half = NP / 2; half >= 1; half /= 2)
        for (int j = 0; j < half; j++)
            p[j] = p[j] + p[j + half];
    return p[0];
}

#define TILE 32
/* y[b][n] = init + sum_q x[b][q] m[q][n] for the NB rows of a block, q in order, where init is
 * y[b][n] itself (accumulate), bias[n] or 0; four rows and TILE columns at a time so that the
 * accumulators stay in registers. Row strides ldy, ldx; m is [K][N] row-major. */
ALWAYS void mm(float *restrict y, int ldy, const float *restrict x, int ldx, const float *restrict m, int K, int N,
               const float *restrict bias, int accumulate)
{
    for (int b = 0; b < NB; b += 4) {
        for (int n0 = 0; n0 < N; n0 += TILE) {
            const int nn = N - n0 < TILE ? N - n0 : TILE;
            float a0[TILE], a1[TILE], a2[TILE], a3[TILE];
            for (int j = 0; j < nn; j++) {
                if (accumulate) {
                    a0[j] = y[b * ldy + n0 + j];
                    a1[j] = y[(b + 1) * ldy + n0 + j];
                    a2[j] = y[(b + 2) * ldy + n0 + j];
                    a3[j] = y[(b + 3) * ldy + n0 + j];
                } else {
                    a0[j] = a1[j] = a2[j] = a3[j] = bias ? bias[n0 + j] : 0.0f;
                }
            }
            for (int q = 0; q < K; q++) {
                const float x0 = x[b * ldx + q], x1 = x[(b + 1) * ldx + q];
                const float x2 = x[(b + 2) * ldx + q], x3 = x[(b + 3) * ldx + q];
                const float *restrict mq = m + q * N + n0;
                for (int j = 0; j < nn; j++) {
                    a0[j] = fmaf(x0, mq[j], a0[j]);
                    a1[j] = fmaf(x1, mq[j], a1[j]);
                    a2[j] = fmaf(x2, mq[j], a2[j]);
                    a3[j] = fmaf(x3, mq[j], a3[j]);
                }
            }
            for (int j = 0; j < nn; j++) {
                y[b * ldy + n0 + j] = a0[j];
                y[(b + 1) * ldy + n0 + j] = a1[j];
                y[(b + 2) * ldy + n0 + j] = a2[j];
                y[(b + 3) * ldy + n0 + j] = a3[j];
            }
        }
    }
}

/* g[j][q] += sum_{b < nb} d[b][j] x[b][q] (g [J][Q]), summed over b in order, four rows j at a time */
ALWAYS void add_outer(float *restrict g, int J, int Q, const float *restrict d, int ldd, const float *restrict x,
                      int ldx, int nb)
{
    const int j4 = J - J % 4;
    for (int j = 0; j < j4; j += 4) {
        for (int q0 = 0; q0 < Q; q0 += TILE) {
            const int nq = Q - q0 < TILE ? Q - q0 : TILE;
            float a0[TILE], a1[TILE], a2[TILE], a3[TILE];
            for (int q = 0; q < nq; q++) {
                a0[q] = g[j * Q + q0 + q];
                a1[q] = g[(j + 1) * Q + q0 + q];
                a2[q] = g[(j + 2) * Q + q0 + q];
                a3[q] = g[(j + 3) * Q + q0 + q];
            }
            for (int b = 0; b < nb; b++) {
                const float d0 = d[b * ldd + j], d1 = d[b * ldd + j + 1];
                const float d2 = d[b * ldd + j + 2], d3 = d[b * ldd + j + 3];
                const float *restrict xb = x + b * ldx + q0;
                for (int q = 0; q < nq; q++) {
                    a0[q] = fmaf(d0, xb[q], a0[q]);
                    a1[q] = fmaf(d1, xb[q], a1[q]);
                    a2[q] = fmaf(d2, xb[q], a2[q]);
                    a3[q] = fmaf(d3, xb[q], a3[q]);
                }
            }
            for (int q = 0; q < nq; q++) {
                g[j * Q + q0 + q] = a0[q];
                g[(j + 1) * Q + q0 + q] = a1[q];
                g[(j + 2) * Q + q0 + q] = a2[q];
                g[(j + 3) * Q + q0 + q] = a3[q];
            }
        }
    }
    for (int j = j4; j < J; j++)
        for (int b = 0; b < nb; b++)
            for (int q = 0; q < Q; q++)
                g[j * Q + q] = fmaf(d[b * ldd + j], x[b * ldx + q], g[j * Q + q]);
}

/* sum over rows b < nb of d[b][0:N] added into g */
ALWAYS void add_rows(float *restrict g, const float *restrict d, int ldd, int N, int nb)
{
    for (int b = 0; b < nb; b++)
        for (int j = 0; j < N; j++)
            g[j] += d[b * ldd + j];
}

/* The weights, in the layouts the loops read (omega folded into the synthesis weights). */
struct weights {
    const float *w_xy;  /* [NW][2]: the first layer's point columns, omega_first W_0[:, :2] */
    const float *b1;    /* [NW]: omega_first b_0 */
    const float *mod_zt; /* [NZ][NG]: the modulator's latent parts A_i side by side, transposed */
    const float *mod_b; /* [NG] */
    const float *mod_z; /* [NG][NZ]: the same, as stored */
    const float *mod_gt; /* [ND-1][NM][NM]: B_i^T, i = 1..ND-1 */
    const float *mod_g; /* [ND-1][NM][NM]: B_i */
    const float *w_t;   /* [ND-1][NW][NW]: W_i^T omega */
    const float *w;     /* [ND-1][NW][NW]: omega W_i */
    const float *b;     /* [ND-1][NW]: omega b_i */
    const float *out_w; /* [3][NW] */
    const float *out_b; /* [3] */
};

/* The gradient buffers, added to (the first layer's without omega_first, the hidden layers'
 * without omega: the caller scales them). */
struct grads {
    float *w_xy;  /* [NW][2] */
    float *b1;    /* [NW] */
    float *w1_t;  /* [NW]: the first layer's time column (already times t omega_first) */
    float *mod_z; /* [NG][NZ] */
    float *mod_b; /* [NG] */
    float *mod_g; /* [ND-1][NM][NM] */
    float *w;     /* [ND-1][NW][NW] */
    float *b;     /* [ND-1][NW] */
    float *out_w; /* [3][NW] */
    float *out_b; /* [3] */
};

struct block {
    float xy[NB][2];
    float z[NB][NZ];
    float zp[NB][NG];  /* modulations g_0 .. g_{D-1} */
    float sa[NB][NW];  /* sin and cos of the first layer's point part */
    float ca[NB][NW];
    float dgs[NB][NG]; /* d sse / d g, summed over frames */
    float d_a[NB][NW]; /* d sse / d (first layer's point part), summed over frames */
    float dzp[NB][NG]; /* d sse / d (modulator pre-activations) */
    float s[ND][NB][NW]; /* per frame: sines, cosines and outputs of every layer */
    float c[ND][NB][NW];
    float h[ND][NB][NW];
    float dh[NB][NW];
    float dn[NB][NW];
    float diff[NB][3];
};

static void shared_forward(struct block *restrict k, const struct weights *p, int nb, const float *restrict xy,
                           const float *restrict z)
{
    memset(k->xy, 0, sizeof k->xy);
    memset(k->z, 0, sizeof k->z);
    memcpy(k->xy, xy, sizeof(float) * 2 * nb);
    memcpy(k->z, z, sizeof(float) * NZ * nb);
    mm(&k->zp[0][0], NG, &k->z[0][0], NZ, p->mod_zt, NZ, NG, p->mod_b, 0);
    for (int i = 0; i < ND; i++) {
        if (i > 0)
            mm(&k->zp[0][i * NM], NG, &k->zp[0][(i - 1) * NM], NG, p->mod_gt + (i - 1) * NM * NM, NM, NM, 0, 1);
        for (int b = 0; b < NB; b++)
            for (int j = 0; j < NM; j++)
                k->zp[b][i * NM + j] = k->zp[b][i * NM + j] > 0.0f ? k->zp[b][i * NM + j] : 0.0f;
    }
    for (int b = 0; b < NB; b++)
        for (int j = 0; j < NW; j++) {
            float pre = fmaf(k->xy[b][1], p->w_xy[2 * j + 1], fmaf(k->xy[b][0], p->w_xy[2 * j], p->b1[j]));
            sincos_f(pre, &k->sa[b][j], &k->ca[b][j]);
        }
    memset(k->dgs, 0, sizeof k->dgs);
    memset(k->d_a, 0, sizeof k->d_a);
}

/* the layer outputs of the block in one frame */
static void frame_forward(struct block *restrict k, const struct weights *p, const float *restrict cos_t,
                          const float *restrict sin_t)
{
    for (int b = 0; b < NB; b++)
        for (int j = 0; j < NW; j++) {
            float s = fmaf(k->ca[b][j], sin_t[j], k->sa[b][j] * cos_t[j]);
            k->s[0][b][j] = s;
            k->c[0][b][j] = fmaf(-k->sa[b][j], sin_t[j], k->ca[b][j] * cos_t[j]);
            k->h[0][b][j] = j < NM ? s * k->zp[b][j] : s;
        }
    for (int i = 1; i < ND; i++) {
        mm(&k->dn[0][0], NW, &k->h[i - 1][0][0], NW, p->w_t + (i - 1) * NW * NW, NW, NW, p->b + (i - 1) * NW, 0);
        for (int b = 0; b < NB; b++)
            for (int j = 0; j < NW; j++) {
                float s, c;
                sincos_f(k->dn[b][j], &s, &c);
                k->s[i][b][j] = s;
                k->c[i][b][j] = c;
                k->h[i][b][j] = j < NM ? s * k->zp[b][i * NM + j] : s;
            }
    }
}

/* out - target into k->diff, times the weight and 2 (d sse / d out); returns the block's weighted sse */
static double frame_diff(struct block *restrict k, const struct weights *p, int nb, const float *restrict target,
                         const float *restrict weight)
{
    double sq = 0.0;
    for (int b = 0; b < nb; b++)
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
    return sq;
}

static void frame_backward(struct block *restrict k, const struct weights *p, const struct grads *g, int nb, float tf)
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
            for (int j = 0; j < NM; j++) {
                k->dgs[b][i * NM + j] = fmaf(k->dh[b][j], k->s[i][b][j], k->dgs[b][i * NM + j]);
                k->dh[b][j] = k->dh[b][j] * k->zp[b][i * NM + j];
            }
            for (int j = 0; j < NW; j++)
                k->dh[b][j] = k->dh[b][j] * k->c[i][b][j]; /* d sse / d pre-activation (omega left out) */
        }
        if (i == 0)
            break;
        add_rows(g->b + (i - 1) * NW, &k->dh[0][0], NW, NW, nb);
        add_outer(g->w + (i - 1) * NW * NW, NW, NW, &k->dh[0][0], NW, &k->h[i - 1][0][0], NW, nb);
        mm(&k->dn[0][0], NW, &k->dh[0][0], NW, p->w + (i - 1) * NW * NW, NW, NW, 0, 0);
        memcpy(k->dh, k->dn, sizeof k->dh);
    }
    float col[NW];
    for (int j = 0; j < NW; j++)
        col[j] = 0.0f;
    for (int b = 0; b < nb; b++)
        for (int j = 0; j < NW; j++) {
            k->d_a[b][j] += k->dh[b][j];
            col[j] += k->dh[b][j];
        }
    for (int j = 0; j < NW; j++)
        g->w1_t[j] = fmaf(tf, col[j], g->w1_t[j]);
}

/* the backward of what the frames share: first layer's point part, modulator, latent */
static void shared_backward(struct block *restrict k, const struct weights *p, const struct grads *g, int nb,
                            float *restrict dz)
{
    add_rows(g->b1, &k->d_a[0][0], NW, NW, nb);
    add_outer(g->w_xy, NW, 2, &k->d_a[0][0], NW, &k->xy[0][0], 2, nb);
    for (int i = ND - 1; i >= 0; i--) {
        /* d sse / d g_i: from the synthesis (dgs) and from layer i + 1 of the modulator */
        if (i < ND - 1)
            mm(&k->dgs[0][i * NM], NG, &k->dzp[0][(i + 1) * NM], NG, p->mod_g + i * NM * NM, NM, NM, 0, 1);
        for (int b = 0; b < NB; b++)
            for (int j = 0; j < NM; j++)
                k->dzp[b][i * NM + j] = (b < nb && k->zp[b][i * NM + j] > 0.0f) ? k->dgs[b][i * NM + j] : 0.0f;
        if (i > 0)
            add_outer(g->mod_g + (i - 1) * NM * NM, NM, NM, &k->dzp[0][i * NM], NG, &k->zp[0][(i - 1) * NM], NG, nb);
    }
    add_outer(g->mod_z, NG, NZ, &k->dzp[0][0], NG, &k->z[0][0], NZ, nb);
    add_rows(g->mod_b, &k->dzp[0][0], NG, NG, nb);
    if (dz) {
        float out[NB][NZ];
        mm(&out[0][0], NZ, &k->dzp[0][0], NG, p->mod_z, NG, NZ, 0, 0);
        memcpy(dz, out, sizeof(float) * NZ * nb);
    }
}

/* Forward and backward of the `rows` points of one set (xy [rows, 2] network coordinates, z
 * [rows, NZ] latents) in its `frames` frames (cos_t, sin_t [frames, NW]: the first layer's time
 * factors; tf [frames]: t omega_first). Row r of frame f: target[f * t_stride + 3 r + c],
 * weight[f * w_stride + r] (weight may be NULL: every sample counts once). `weights` and
 * `grads` are the fields of struct weights / struct grads in order; dz [rows, NZ] (written) may
 * be NULL. Returns the weighted sum of squared errors. */
double nvc_point_set(int64_t rows, int64_t frames, const float *xy, const float *z, const float *cos_t,
                     const float *sin_t, const float *tf, const float *target, int64_t t_stride, const float *weight,
                     int64_t w_stride, const float *const *weights, float *const *grads, float *dz)
{
    _Alignas(64) struct block k; /* on the stack: one per call, so threads never share one */
    const struct weights p = {weights[0], weights[1], weights[2], weights[3], weights[4], weights[5],
                              weights[6], weights[7], weights[8], weights[9], weights[10], weights[11]};
    const struct grads g = {grads[0], grads[1], grads[2], grads[3], grads[4],
                            grads[5], grads[6], grads[7], grads[8], grads[9]};
    double sq = 0.0;
    for (int64_t r0 = 0; r0 < rows; r0 += NB) {
        const int nb = rows - r0 < NB ? (int)(rows - r0) : NB;
        shared_forward(&k, &p, nb, xy + 2 * r0, z + NZ * r0);
        for (int64_t f = 0; f < frames; f++) {
            frame_forward(&k, &p, cos_t + f * NW, sin_t + f * NW);
            sq += frame_diff(&k, &p, nb, target + f * t_stride + 3 * r0, weight ? weight + f * w_stride + r0 : 0);
            frame_backward(&k, &p, &g, nb, tf[f]);
        }
        shared_backward(&k, &p, &g, nb, dz ? dz + NZ * r0 : 0);
    }
    return sq;
}

/* sin and cos of n values (the kernel's own, exported for tests) */
void nvc_sincos(int64_t n, const float *restrict x, float *restrict s, float *restrict c)
{
    for (int64_t i = 0; i < n; i++)
        sincos_f(x[i], &s[i], &c[i]);
}
