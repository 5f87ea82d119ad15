"""A causal LM shipped as GGUF, written out once as a de-quantised safetensors folder
(transformers reads GGUF, but its save_pretrained refuses a model loaded from one)."""

from __future__ import annotations

from pathlib import Path

from spire.core.files import staged_files

WEIGHTS = "model.safetensors"


def dequantise_folder(folder: Path) -> None:
    """Write config.json, model.safetensors (float32, tied tensors once) and the tokenizer
    files beside the folder's single .gguf file; nothing if they are there already."""
    folder = Path(folder)
    ggufs = sorted(folder.glob("*.gguf"))
    if (folder / WEIGHTS).is_file() or len(ggufs) != 1:
        return
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    name = ggufs[0].name
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    tensors, seen = {}, set()
    for key, tensor in model.state_dict().items():
        if tensor.data_ptr() not in seen:  # lm_head shares the embeddings when tied
            seen.add(tensor.data_ptr())
            tensors[key] = tensor.contiguous()
    # Files only (staged_files moves no folders); config last, so a folder with config.json
    # always has its weights (query generation loads the GGUF while config.json is absent).
    with staged_files(folder) as staging:
        tokenizer.save_pretrained(staging)
        save_file(tensors, staging / WEIGHTS, metadata={"format": "pt", "source": name})
    config = model.config
    config.architectures = [type(model).__name__]  # what loaders read the model kind from
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the folder's weights are float32, not GGUF
    with staged_files(folder) as staging:
        config.save_pretrained(staging)
