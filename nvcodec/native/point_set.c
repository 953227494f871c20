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
 * Rounding is deterministic and the same for every vector width: products and sums are written
 * in a fixed order, multiply-adds are fused (fmaf, or the vector fma of the same rounding;
 * built with -ffp-contract=off, no -ffast-math), and no loop reduces across vector lanes.
 *
 * The loops run on vectors of VL units (GCC/clang vector extensions) with the products' running
 * sums held in registers: left to the auto-vectoriser, the sums spilled to the stack at every
 * multiply-add and the elementwise loops over a block gathered across its rows (perf,
 * benchmarks/RESULTS.md, thirteenth session).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#if !defined(NW) || !defined(NM) || !defined(ND) || !defined(NZ) || !defined(NP)
#error "NW, NM, ND, NZ and NP must be defined"
#endif

#define NB 16        /* points per block: a multiple of every vector width VL */
#define NG (ND * NM) /* modulations of all layers, side by side */
#define ALWAYS static inline __attribute__((always_inline))

/* ------------------------------------------------------------------ vectors of VL floats */

/* the widest vector the target has (in floats) that divides NW and NM */
#if defined(__AVX512F__)
#define VMAX 16
#elif defined(__AVX__)
#define VMAX 8
#else
#define VMAX 4
#endif
#if VMAX >= 16 && NW % 16 == 0 && NM % 16 == 0
#define VL 16
#elif VMAX >= 8 && NW % 8 == 0 && NM % 8 == 0
#define VL 8
#elif NW % 4 == 0 && NM % 4 == 0
#define VL 4
#else
#error "NW and NM must be multiples of 4 (other widths take the torch path: nvcodec/native)"
#endif

/* the latent's channels padded to whole vectors (the padding is zero in z and in the weights) */
#define NZP ((NZ + VL - 1) / VL * VL)

typedef float vf __attribute__((vector_size(4 * VL)));
typedef int32_t vi __attribute__((vector_size(4 * VL)));

ALWAYS vf vload(const float *p)
{
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}

ALWAYS void vstore(float *p, vf v) { memcpy(p, &v, sizeof v); }

/* every lane x (x - 0 is x for every x, -0 included, so the subtraction folds away) */
ALWAYS vf vsplat(float x) { return x - (vf){0}; }

/* a * b + c, rounded once (what fmaf does to each lane) */
ALWAYS vf vfma(vf a, vf b, vf c)
{
#if defined(__clang__) && defined(__has_builtin)
#if __has_builtin(__builtin_elementwise_fma)
#define NVC_HAVE_VFMA
    return __builtin_elementwise_fma(a, b, c);
#endif
#endif
#if !defined(NVC_HAVE_VFMA) && defined(__AVX512F__) && VL == 16
#define NVC_HAVE_VFMA
    return (vf)_mm512_fmadd_ps((__m512)a, (__m512)b, (__m512)c);
#endif
#if !defined(NVC_HAVE_VFMA) && defined(__FMA__) && VL == 8
#define NVC_HAVE_VFMA
    return (vf)_mm256_fmadd_ps((__m256)a, (__m256)b, (__m256)c);
#endif
#if !defined(NVC_HAVE_VFMA) && defined(__FMA__) && VL == 4
#define NVC_HAVE_VFMA
    return (vf)_mm_fmadd_ps((__m128)a, (__m128)b, (__m128)c);
#endif
#ifndef NVC_HAVE_VFMA
    vf r;
    for (int l = 0; l < VL; l++)
        r[l] = fmaf(a[l], b[l], c[l]);
    return r;
#endif
}

/* the lanes of x where mask (a comparison's result) is set, 0.0f elsewhere */
ALWAYS vf vkeep(vi mask, vf x) { return (vf)((vi)x & mask); }

ALWAYS vf vmax0(vf x) { return vkeep(x > 0.0f, x); }

/* sin and cos of x, |x| < 2^22 pi: x = k pi + r with |r| <= pi/2 (three-part pi), Taylor
 * polynomials to r^11 / r^12 (truncation below 6e-8), sign (-1)^k. Every lane rounds as the
 * scalar nvc_sincos does. */
ALWAYS void vsincos(vf x, vf *s, vf *c)
{
    const vf shifter = vsplat(12582912.0f); /* 1.5 * 2^23: adding it rounds to an integer */
    vf k = (x * 0.318309886183790672f + shifter) - shifter;
    vf r = vfma(-k, vsplat(3.140625f), x);
    r = vfma(-k, vsplat(9.67502593994140625e-4f), r);
    r = vfma(-k, vsplat(1.509957990978376432e-7f), r);
    vf r2 = r * r;
    vf ps = vfma(vsplat(-2.50521084e-8f), r2, vsplat(2.75573192e-6f));
    ps = vfma(ps, r2, vsplat(-1.98412698e-4f));
    ps = vfma(ps, r2, vsplat(8.33333333e-3f));
    ps = vfma(ps, r2, vsplat(-1.66666667e-1f));
    vf pc = vfma(vsplat(2.08767570e-9f), r2, vsplat(-2.75573192e-7f));
    pc = vfma(pc, r2, vsplat(2.48015873e-5f));
    pc = vfma(pc, r2, vsplat(-1.38888889e-3f));
    pc = vfma(pc, r2, vsplat(4.16666667e-2f));
    pc = vfma(pc, r2, vsplat(-0.5f));
    vf sign = 1.0f - 2.0f * __builtin_convertvector(__builtin_convertvector(k, vi) & 1, vf);
    *s = sign * vfma(ps * r2, r, r);
    *c = sign * vfma(pc, r2, vsplat(1.0f));
}

/* ------------------------------------------------------------------ small matrix products */

/* rows r0 .. r0 + RT - 1, columns n0 .. n0 + CV VL - 1 of gemm (below), with the RT x CV
 * running sums in registers */
ALWAYS void gemm_tile(float *restrict o, int ldo, int r0, int n0, int RT, int CV, const float *restrict a, int ars,
                      int aks, const float *restrict b, int ldb, int K, const float *restrict bias, int accumulate)
{
    vf s[8][2];
#pragma GCC unroll 8
    for (int i = 0; i < RT; i++)
#pragma GCC unroll 2
        for (int c = 0; c < CV; c++)
            s[i][c] = accumulate ? vload(o + (r0 + i) * ldo + n0 + c * VL) : bias ? vload(bias + n0 + c * VL) : (vf){0};
    for (int k = 0; k < K; k++) {
        const float *ak = a + r0 * ars + k * aks;
        vf bk[2];
#pragma GCC unroll 2
        for (int c = 0; c < CV; c++)
            bk[c] = vload(b + k * ldb + n0 + c * VL);
#pragma GCC unroll 8
        for (int i = 0; i < RT; i++) {
            const vf x = vsplat(ak[i * ars]);
#pragma GCC unroll 2
            for (int c = 0; c < CV; c++)
                s[i][c] = vfma(x, bk[c], s[i][c]);
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < RT; i++)
#pragma GCC unroll 2
        for (int c = 0; c < CV; c++)
            vstore(o + (r0 + i) * ldo + n0 + c * VL, s[i][c]);
}

/* o[r][n] = init + sum_{k < K} a[r ars + k aks] b[k ldb + n] for r < R, n < N, the sum in the
 * order of k; init is o[r][n] itself (accumulate), bias[n] or 0. Tiles of RT rows (8 where R
 * allows, else 4) and two vectors of columns, then one, then single columns. */
ALWAYS void gemm(float *restrict o, int ldo, int R, int N, const float *restrict a, int ars, int aks,
                 const float *restrict b, int ldb, int K, const float *restrict bias, int accumulate)
{
    const int RT = R % 8 == 0 ? 8 : 4, rt = R - R % RT, nv2 = N - N % (2 * VL), nv = N - N % VL;
    for (int r = 0; r < rt; r += RT) {
        for (int n = 0; n < nv2; n += 2 * VL)
            gemm_tile(o, ldo, r, n, RT, 2, a, ars, aks, b, ldb, K, bias, accumulate);
        for (int n = nv2; n < nv; n += VL)
            gemm_tile(o, ldo, r, n, RT, 1, a, ars, aks, b, ldb, K, bias, accumulate);
    }
    for (int r = 0; r < R; r++)
        for (int n = r < rt ? nv : 0; n < N; n++) {
            float s = accumulate ? o[r * ldo + n] : bias ? bias[n] : 0.0f;
            for (int k = 0; k < K; k++)
                s = fmaf(a[r * ars + k * aks], b[k * ldb + n], s);
            o[r * ldo + n] = s;
        }
}

/* y[b][n] = init + sum_q x[b][q] m[q][n] for the NB rows of a block, q in order, where init is
 * y[b][n] itself (accumulate), bias[n] or 0. Row strides ldy, ldx; m is [K][N] row-major. */
ALWAYS void mm(float *restrict y, int ldy, const float *restrict x, int ldx, const float *restrict m, int K, int N,
               const float *restrict bias, int accumulate)
{
    gemm(y, ldy, NB, N, x, ldx, 1, m, N, K, bias, accumulate);
}

/* g[j][q] += sum_{b < nb} d[b][j] x[b][q] (g [J][Q]), summed over b in order */
ALWAYS void add_outer(float *restrict g, int J, int Q, const float *restrict d, int ldd, const float *restrict x,
                      int ldx, int nb)
{
    gemm(g, Q, J, Q, d, 1, ldd, x, ldx, nb, 0, 1);
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
    const float *mod_z; /* [NG][NZP]: the same, as stored (padded) */
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
    float *mod_z; /* [NG][NZP] (padded) */
    float *mod_b; /* [NG] */
    float *mod_g; /* [ND-1][NM][NM] */
    float *w;     /* [ND-1][NW][NW] */
    float *b;     /* [ND-1][NW] */
    float *out_w; /* [3][NW] */
    float *out_b; /* [3] */
};

struct block {
    float xy[NB][2];
    float z[NB][NZP];
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
    for (int b = 0; b < nb; b++)
        memcpy(k->z[b], z + NZ * b, sizeof(float) * NZ);
    mm(&k->zp[0][0], NG, &k->z[0][0], NZP, p->mod_zt, NZ, NG, p->mod_b, 0);
    for (int i = 0; i < ND; i++) {
        if (i > 0)
            mm(&k->zp[0][i * NM], NG, &k->zp[0][(i - 1) * NM], NG, p->mod_gt + (i - 1) * NM * NM, NM, NM, 0, 1);
        for (int b = 0; b < NB; b++)
            for (int j = 0; j < NM; j += VL)
                vstore(&k->zp[b][i * NM + j], vmax0(vload(&k->zp[b][i * NM + j])));
    }
    for (int b = 0; b < NB; b++) {
        const vf x = vsplat(k->xy[b][0]), y = vsplat(k->xy[b][1]);
        for (int j = 0; j < NW; j += VL) {
            vf w0, w1, s, c;
            for (int l = 0; l < VL; l++) {
                w0[l] = p->w_xy[2 * (j + l)];
                w1[l] = p->w_xy[2 * (j + l) + 1];
            }
            vsincos(vfma(y, w1, vfma(x, w0, vload(p->b1 + j))), &s, &c);
            vstore(&k->sa[b][j], s);
            vstore(&k->ca[b][j], c);
        }
    }
    memset(k->dgs, 0, sizeof k->dgs);
    memset(k->d_a, 0, sizeof k->d_a);
}

/* h = s times the modulation (units < NM) or s */
ALWAYS vf modulate(vf s, const float *zp_row, int j)
{
    return j < NM ? s * vload(zp_row + j) : s;
}

/* the layer outputs of the block in one frame */
static void frame_forward(struct block *restrict k, const struct weights *p, const float *restrict cos_t,
                          const float *restrict sin_t)
{
    for (int b = 0; b < NB; b++)
        for (int j = 0; j < NW; j += VL) {
            const vf sa = vload(&k->sa[b][j]), ca = vload(&k->ca[b][j]);
            const vf st = vload(sin_t + j), ct = vload(cos_t + j);
            const vf s = vfma(ca, st, sa * ct);
            vstore(&k->s[0][b][j], s);
            vstore(&k->c[0][b][j], vfma(-sa, st, ca * ct));
            vstore(&k->h[0][b][j], modulate(s, k->zp[b], j));
        }
    for (int i = 1; i < ND; i++) {
        mm(&k->dn[0][0], NW, &k->h[i - 1][0][0], NW, p->w_t + (i - 1) * NW * NW, NW, NW, p->b + (i - 1) * NW, 0);
        for (int b = 0; b < NB; b++)
            for (int j = 0; j < NW; j += VL) {
                vf s, c;
                vsincos(vload(&k->dn[b][j]), &s, &c);
                vstore(&k->s[i][b][j], s);
                vstore(&k->c[i][b][j], c);
                vstore(&k->h[i][b][j], modulate(s, k->zp[b] + i * NM, j));
            }
    }
}

/* where lane l of add_halves' lower (upper = 0) or upper operand comes from, among the lanes of
 * two vectors side by side that hold groups of G lanes */
ALWAYS vi halves_mask(int G, int upper)
{
    vi m;
    const int n = VL / G, h = G / 2;
    for (int l = 0; l < VL; l++) {
        const int q = l / h, j = l % h;
        m[l] = (q < n ? q * G : VL + (q - n) * G) + j + (upper ? h : 0);
    }
    return m;
}

/* lanes m[l] of a and b side by side (0 .. VL-1 from a, VL .. 2VL-1 from b) */
ALWAYS vf shuffle2(vf a, vf b, vi m)
{
#if defined(__GNUC__) && !defined(__clang__)
    return __builtin_shuffle(a, b, m);
#else
    vf r;
    for (int l = 0; l < VL; l++)
        r[l] = m[l] < VL ? a[m[l]] : b[m[l] - VL];
    return r;
#endif
}

/* The pairwise sums of lanes of u[0 .. count-1] (one sample's partial sums per group of G lanes,
 * VL / G samples a vector, in order): lane j of each group plus lane j + G/2, j < G/2, into
 * count/2 vectors of VL / (G/2) samples, in order. The shuffles only move floats, so each sum
 * has the operands of the scalar tree p[j] + p[j + half]. */
ALWAYS void add_halves(vf *u, int count, int G)
{
    const vi lo = halves_mask(G, 0), hi = halves_mask(G, 1);
    for (int i = 0; i < count / 2; i++)
        u[i] = shuffle2(u[2 * i], u[2 * i + 1], lo) + shuffle2(u[2 * i], u[2 * i + 1], hi);
}

/* out[b] = h[b][0:NW] . w[0:NW] for the NB rows of a block, each summed pairwise over NP terms
 * (zero beyond NW) in a fixed order: the levels whose pairs lie in different vectors as vector
 * adds, then the levels inside a vector for all rows at once (`add_halves`), so every sum
 * rounds as one row's tree does */
ALWAYS void dot_rows(const float (*restrict h)[NW], const float *restrict w, float *restrict out)
{
#define NVP (NP / VL > 0 ? NP / VL : 1)
    vf u[NB];
    for (int b = 0; b < NB; b++) {
        vf v[NVP];
        for (int i = 0; i < NVP; i++)
            v[i] = i * VL < NW ? vload(h[b] + i * VL) * vload(w + i * VL) : (vf){0};
        for (int half = NVP / 2; half >= 1; half /= 2)
            for (int i = 0; i < half; i++)
                v[i] = v[i] + v[i + half];
        u[b] = v[0];
    }
#undef NVP
#pragma GCC unroll 4
    for (int G = VL, count = NB; G > 1; G /= 2, count /= 2)
        add_halves(u, count, G);
    for (int i = 0; i < NB / VL; i++)
        vstore(out + i * VL, u[i]);
}

/* out - target into k->diff, times the weight and 2 (d sse / d out); returns the block's weighted sse */
static double frame_diff(struct block *restrict k, const struct weights *p, int nb, const float *restrict target,
                         const float *restrict weight)
{
    float out[3][NB];
    for (int o = 0; o < 3; o++)
        dot_rows(k->h[ND - 1], p->out_w + o * NW, out[o]);
    double sq = 0.0;
    for (int b = 0; b < nb; b++)
        for (int o = 0; o < 3; o++) {
            float d = (out[o][b] + p->out_b[o]) - target[b * 3 + o];
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
    for (int o = 0; o < 3; o++) {
        for (int b = 0; b < nb; b++)
            g->out_b[o] += k->diff[b][o];
        for (int j = 0; j < NW; j += VL) {
            vf acc = vload(g->out_w + o * NW + j);
            for (int b = 0; b < nb; b++)
                acc = vfma(vsplat(k->diff[b][o]), vload(&k->h[ND - 1][b][j]), acc);
            vstore(g->out_w + o * NW + j, acc);
        }
    }
    for (int b = 0; b < NB; b++) {
        const vf d0 = vsplat(b < nb ? k->diff[b][0] : 0.0f), d1 = vsplat(b < nb ? k->diff[b][1] : 0.0f);
        const vf d2 = vsplat(b < nb ? k->diff[b][2] : 0.0f);
        for (int j = 0; j < NW; j += VL) {
            const vf dh = vfma(d2, vload(p->out_w + 2 * NW + j), vfma(d1, vload(p->out_w + NW + j), d0 * vload(p->out_w + j)));
            vstore(&k->dh[b][j], b < nb ? dh : (vf){0});
        }
    }
    for (int i = ND - 1; i >= 0; i--) {
        for (int b = 0; b < nb; b++)
            for (int j = 0; j < NW; j += VL) {
                vf dh = vload(&k->dh[b][j]);
                if (j < NM) {
                    float *dg = &k->dgs[b][i * NM + j];
                    vstore(dg, vfma(dh, vload(&k->s[i][b][j]), vload(dg)));
                    dh = dh * vload(&k->zp[b][i * NM + j]);
                }
                vstore(&k->dh[b][j], dh * vload(&k->c[i][b][j])); /* d sse / d pre-activation (omega left out) */
            }
        if (i == 0)
            break;
        add_rows(g->b + (i - 1) * NW, &k->dh[0][0], NW, NW, nb);
        add_outer(g->w + (i - 1) * NW * NW, NW, NW, &k->dh[0][0], NW, &k->h[i - 1][0][0], NW, nb);
        mm(&k->dn[0][0], NW, &k->dh[0][0], NW, p->w + (i - 1) * NW * NW, NW, NW, 0, 0);
        memcpy(k->dh, k->dn, sizeof k->dh);
    }
    for (int j = 0; j < NW; j += VL) {
        vf col = (vf){0};
        for (int b = 0; b < nb; b++) {
            const vf dh = vload(&k->dh[b][j]);
            vstore(&k->d_a[b][j], vload(&k->d_a[b][j]) + dh);
            col = col + dh;
        }
        vstore(g->w1_t + j, vfma(vsplat(tf), col, vload(g->w1_t + j)));
    }
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
            for (int j = 0; j < NM; j += VL) {
                const vf zp = vload(&k->zp[b][i * NM + j]), dg = vload(&k->dgs[b][i * NM + j]);
                vstore(&k->dzp[b][i * NM + j], b < nb ? vkeep(zp > 0.0f, dg) : (vf){0});
            }
        if (i > 0)
            add_outer(g->mod_g + (i - 1) * NM * NM, NM, NM, &k->dzp[0][i * NM], NG, &k->zp[0][(i - 1) * NM], NG, nb);
    }
    add_outer(g->mod_z, NG, NZP, &k->dzp[0][0], NG, &k->z[0][0], NZP, nb);
    add_rows(g->mod_b, &k->dzp[0][0], NG, NG, nb);
    if (dz) {
        float out[NB][NZP];
        mm(&out[0][0], NZP, &k->dzp[0][0], NG, p->mod_z, NG, NZP, 0, 0);
        for (int b = 0; b < nb; b++)
            memcpy(dz + NZ * b, out[b], sizeof(float) * NZ);
    }
}

/* Forward and backward of the `rows` points of one set (xy [rows, 2] network coordinates, z
 * [rows, NZ] latents) in its `frames` frames (cos_t, sin_t [frames, NW]: the first layer's time
 * factors; tf [frames]: t omega_first). Row r of frame f: target[f * t_stride + 3 r + c], or
 * where clip is not NULL the 8-bit sample clip[(pix[r] clip_frames + frame_ids[f]) 3 + c] / 255
 * of a clip laid out pixel-major ([pixels][clip_frames][3], nvcodec/fit/dense.py pixel_major:
 * the batch's targets are then never copied out as floats; target is not read);
 * weight[f * w_stride + r] (weight may be NULL: every sample counts once). `weights` and
 * `grads` are the fields of struct weights / struct grads in order; dz [rows, NZ] (written) may
 * be NULL. Returns the weighted sum of squared errors. */
double nvc_point_set(int64_t rows, int64_t frames, const float *xy, const float *z, const float *cos_t,
                     const float *sin_t, const float *tf, const float *target, int64_t t_stride,
                     const uint8_t *clip, int64_t clip_frames, const int64_t *pix, const int64_t *frame_ids,
                     const float *weight, int64_t w_stride, const float *const *weights, float *const *grads,
                     float *dz)
{
    const float inv255 = (float)(1.0 / 255.0); /* torch's x.float() * (1 / 255): a float32 product */
    float block_target[NB * 3];
    _Alignas(64) struct block k; /* on the stack: one per call, so threads never share one */
    _Alignas(64) float mod_z[NG][NZP], g_mod_z[NG][NZP]; /* padded copies */
    memset(mod_z, 0, sizeof mod_z);
    memset(g_mod_z, 0, sizeof g_mod_z);
    for (int j = 0; j < NG; j++) {
        memcpy(mod_z[j], weights[4] + NZ * j, sizeof(float) * NZ);
        memcpy(g_mod_z[j], grads[3] + NZ * j, sizeof(float) * NZ);
    }
    const struct weights p = {weights[0], weights[1], weights[2], weights[3], &mod_z[0][0], weights[5],
                              weights[6], weights[7], weights[8], weights[9], weights[10], weights[11]};
    const struct grads g = {grads[0], grads[1], grads[2], &g_mod_z[0][0], grads[4],
                            grads[5], grads[6], grads[7], grads[8], grads[9]};
    double sq = 0.0;
    for (int64_t r0 = 0; r0 < rows; r0 += NB) {
        const int nb = rows - r0 < NB ? (int)(rows - r0) : NB;
        shared_forward(&k, &p, nb, xy + 2 * r0, z + NZ * r0);
        for (int64_t f = 0; f < frames; f++) {
            frame_forward(&k, &p, cos_t + f * NW, sin_t + f * NW);
            const float *tgt = block_target;
            if (clip) { /* the 8-bit samples of the block's pixels in frame frame_ids[f] */
                for (int b = 0; b < nb; b++)
                    for (int o = 0; o < 3; o++)
                        block_target[3 * b + o] = (float)clip[(pix[r0 + b] * clip_frames + frame_ids[f]) * 3 + o] * inv255;
            } else {
                tgt = target + f * t_stride + 3 * r0;
            }
            sq += frame_diff(&k, &p, nb, tgt, weight ? weight + f * w_stride + r0 : 0);
            frame_backward(&k, &p, &g, nb, tf[f]);
        }
        shared_backward(&k, &p, &g, nb, dz ? dz + NZ * r0 : 0);
    }
    for (int j = 0; j < NG; j++)
        memcpy(grads[3] + NZ * j, g_mod_z[j], sizeof(float) * NZ);
    return sq;
}

/* sin and cos of n values (the kernel's own, exported for tests) */
void nvc_sincos(int64_t n, const float *restrict x, float *restrict s, float *restrict c)
{
    for (int64_t i = 0; i < n; i++) {
        vf v = vsplat(x[i]), vs, vc;
        vsincos(v, &vs, &vc);
        s[i] = vs[0];
        c[i] = vc[0];
    }
}
