"""The benchmarks and experiment scripts of asge_nb. Each writes a results file under bench/results/ (through
`bench.common.save_results`) that the notebooks and docs read. Run them from the repository root, either way:

    python -m bench.step_time --help
    python bench/step_time.py --help
"""
