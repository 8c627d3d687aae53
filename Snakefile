# The run graph (DESIGN §7): one job per (notebook, profile), the comparison last.
#   snakemake --cores all                       # default profile
#   snakemake --cores all --config profile=smoke
#   snakemake --executor slurm --jobs 20 --config profile=paper   # on a cluster (see README)
# A notebook runs only under the profiles it has params for: params/<stem>/<profile>.yaml.
# A failed notebook fails only its own job (use --keep-going); its executed copy, with the
# error in it, stays at results/executed/<profile>/<stem>.ipynb.
from pathlib import Path

PROFILE = config.get("profile", "default")
COLLECTOR = "99_comparison"
NOTEBOOKS = sorted(
    p.stem for p in Path("notebooks").glob("*.ipynb")
    if p.stem != COLLECTOR and Path("params", p.stem, f"{PROFILE}.yaml").exists()
)

ruleorder: comparison > notebook


rule all:
    input:
        f"results/executed/{PROFILE}/{COLLECTOR}.done",


rule notebook:
    input:
        nb="notebooks/{stem}.ipynb",
        params="params/{stem}/{profile}.yaml",
    output:
        touch("results/executed/{profile}/{stem}.done"),
    log:
        "results/executed/{profile}/{stem}.ipynb",
    wildcard_constraints:
        stem="[A-Za-z0-9_]+",
    resources:
        gpu=lambda wc: 1 if wc.profile == "paper" else 0,
    shell:
        "papermill {input.nb} {log} -f {input.params} -p PROFILE {wildcards.profile} "
        "--progress-bar --log-level WARNING "
        "|| (echo 'notebook {wildcards.stem} failed under {wildcards.profile}: see {log}' >&2; "
        "exit 1)"


rule comparison:
    input:
        expand("results/executed/{{profile}}/{stem}.done", stem=NOTEBOOKS),
        nb=f"notebooks/{COLLECTOR}.ipynb",
        params=f"params/{COLLECTOR}/{{profile}}.yaml",
    output:
        touch(f"results/executed/{{profile}}/{COLLECTOR}.done"),
    log:
        f"results/executed/{{profile}}/{COLLECTOR}.ipynb",
    shell:
        "papermill {input.nb} {log} -f {input.params} -p PROFILE {wildcards.profile} "
        "--log-level WARNING "
        "|| (echo 'comparison failed: see {log}' >&2; exit 1)"
