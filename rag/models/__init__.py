"""The models stage: embedders and LLM backends, their runtimes, the packaged-weights assembly and health checks.

- embeddings.py: the embedder the settings name (EmbeddingGemma on torch or ONNX Runtime, e5, sentence-
  transformers, an OpenAI-compatible server); embedder_files.py, embedder_onnx.py, embedder_openai.py,
  embeddings_server.py behind it.
- llm.py: the chat model the settings name (llama.cpp in a worker process, OpenAI-compatible, Ollama);
  local_llama.py, llm_worker.py, reader.py (what the answer stage may ask of a model beyond its text),
  copying.py (the copy check on decoded tokens, or a choice among given spans).
- model_files.py (the packaged GGUF), runtime.py (the CPU, the llama.cpp build, the model health check);
  packaged.py, what the packaged-weights modules share (sha256 in blocks, verified records, staging).
"""
