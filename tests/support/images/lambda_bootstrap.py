"""Runs inside a built image's Python, as Lambda's runtime would: the CMD's handler from the task
root alone (started with -I -S: no site-packages, no PYTHONPATH), then each event in turn.

    pythonX.Y -I -S lambda_bootstrap.py TASK_ROOT HANDLER EVENTS_JSON RESULT_JSON CONTEXT_PY

CONTEXT_PY is the local stack's Lambda context (facematch_local/context.py, standard library only),
which no image holds: it is run from its file, and so is not among the modules imported.

The result goes to a file: the handlers' logs own stdout.
"""

import importlib
import json
import runpy
import sys
import time


def main() -> None:
    task_root, handler, events_path, result_path, context_path = sys.argv[1:]
    sys.path.insert(0, task_root)
    module_name, _, function_name = handler.rpartition(".")
    started = time.perf_counter()
    function = getattr(importlib.import_module(module_name), function_name)
    init_s = time.perf_counter() - started

    LambdaContext = runpy.run_path(context_path)["LambdaContext"]

    with open(events_path) as handle:
        events = json.load(handle)
    outcomes = []
    for event in events:
        try:
            outcomes.append({"response": function(event, LambdaContext())})
        except Exception as error:  # noqa: BLE001 - Lambda reports it as the invocation's error
            outcomes.append({"error": f"{type(error).__name__}: {error}"})
    result = {
        "init_s": init_s,
        "outcomes": outcomes,
        "tensorflow": "tensorflow" in sys.modules,
        "outside_task_root": sorted(
            name for name, module in sys.modules.items()
            if getattr(module, "__file__", None) not in (None, __file__)
            and not module.__file__.startswith((task_root, sys.base_prefix))
        ),
    }
    with open(result_path, "w") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main()
