#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
/* a harness for benchmarks/results/fit_profiles/kernel_vectors/run.sh: times nvc_point_set on random
 * inputs; with a second argument, writes every output (gradients, dz, sum of squares) there */
#include KERNEL
static float *rnd(size_t n, float s){ float *p=aligned_alloc(64, ((n*4+63)/64)*64); for(size_t i=0;i<n;i++) p[i]=s*((float)rand()/RAND_MAX-0.5f); return p;}
static float *zer(size_t n){ float *p=aligned_alloc(64, ((n*4+63)/64)*64); memset(p,0,n*4); return p;}
int main(int argc, char **argv){
  int rows=512, frames=10, reps=argc>1?atoi(argv[1]):200;
  srand(1);
  float *xy=rnd(rows*2,2), *z=rnd(rows*NZ,1), *cos_t=rnd(frames*NW,2), *sin_t=rnd(frames*NW,2), *tf=rnd(frames,1);
  float *target=rnd(frames*rows*3,1);
  const float *w[12]={rnd(NW*2,30),rnd(NW,3),rnd(NZ*NG,0.5),rnd(NG,0.1),rnd(NG*NZ,0.5),rnd((ND-1)*NM*NM,0.3),rnd((ND-1)*NM*NM,0.3),rnd((ND-1)*NW*NW,1.5),rnd((ND-1)*NW*NW,1.5),rnd((ND-1)*NW,1),rnd(3*NW,0.3),rnd(3,0.1)};
  float *g[10]={zer(NW*2),zer(NW),zer(NW),zer(NG*NZ),zer(NG),zer((ND-1)*NM*NM),zer((ND-1)*NW*NW),zer((ND-1)*NW),zer(3*NW),zer(3)};
  float *dz=zer(rows*NZ);
  double sq=0; struct timespec t0,t1;
  for(int i=0;i<5;i++) sq+=nvc_point_set(rows,frames,xy,z,cos_t,sin_t,tf,target,rows*3,0,0,w,g,dz);
  clock_gettime(CLOCK_MONOTONIC,&t0);
  for(int i=0;i<reps;i++) sq+=nvc_point_set(rows,frames,xy,z,cos_t,sin_t,tf,target,rows*3,0,0,w,g,dz);
  clock_gettime(CLOCK_MONOTONIC,&t1);
  double s=(t1.tv_sec-t0.tv_sec)+1e-9*(t1.tv_nsec-t0.tv_nsec);
  double chk=0; for(int i=0;i<10;i++) for(int j=0;j<8;j++) chk+=g[i][j];
  if(argc>2){ FILE*f=fopen(argv[2],"wb"); size_t sz[10]={NW*2,NW,NW,NG*NZ,NG,(ND-1)*NM*NM,(ND-1)*NW*NW,(ND-1)*NW,3*NW,3}; for(int i=0;i<10;i++) fwrite(g[i],4,sz[i],f); fwrite(dz,4,rows*NZ,f); fwrite(&sq,8,1,f); fclose(f);}
  printf("%.1f ns/sample  sq=%g chk=%.6g\n", s/reps/(rows*frames)*1e9, sq, chk);
}
