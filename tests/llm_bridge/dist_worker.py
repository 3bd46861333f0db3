"""Run by ``torch.distributed.run`` (2 CPU processes, gloo) from test_trainer.py: train the tiny run and save the
final weights (OUT.safetensors) and metrics (OUT.json) from rank 0. Usage: dist_worker.py OUT SOLVER"""

import json
import sys

import torch

torch.set_num_threads(1)

from accelerate import Accelerator  # noqa: E402

from helpers import state, tiny_run  # noqa: E402

if __name__ == "__main__":
    acc = Accelerator(cpu=True)
    assert acc.num_processes == 2, acc.num_processes
    trainer = tiny_run(sys.argv[2], accelerator=acc, iterations=2)
    history = trainer.train()
    if acc.is_main_process:
        from safetensors.torch import save_file

        save_file(state(trainer), sys.argv[1] + ".safetensors")
        with open(sys.argv[1] + ".json", "w") as f:
            json.dump(history, f)
    acc.wait_for_everyone()
