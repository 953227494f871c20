# PREV and NEW: worktrees of the two commits (git worktree add); CLIP: the clip (default bbb 720p)
for r in 1 2; do
  for side in prev new; do
    if [ $side = prev ]; then tree=$PREV; else tree=$NEW; fi
    [ $r = 2 ] && [ $side = prev ] && continue
    echo "$r $side $(PYTHONPATH=$tree python benchmarks/results/fit_file_phases/phase_steps.py "${CLIP:-/work/shared/clips/bbb_1280x720_30f.y4m}" 0.1 60 2 2>&1 | tail -1)"
  done
  if [ $r = 2 ]; then echo "$r prev $(PYTHONPATH=$PREV python benchmarks/results/fit_file_phases/phase_steps.py "${CLIP:-/work/shared/clips/bbb_1280x720_30f.y4m}" 0.1 60 2 2>&1 | tail -1)"; fi
done
