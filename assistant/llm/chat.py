"""The chat template stored in a GGUF, with its tokenizer: how both generators make a prompt.

The in-process generator (assistant.llm.local) and the model-server one
(assistant.llm.remote) render with the same template and tokenizer, so that at
temperature 0 a server writes the tokens the in-process model would have written.
What differs is who tokenizes: in-process, each message's content is tokenized
as plain text (scaffolded_tokens); a server tokenizes the whole prompt with
special tokens on, so it gets a rendering with marker text defused (render_defused).
"""

from __future__ import annotations

import re
from pathlib import Path

from assistant.llm import llama
from index.errors import ModelError

# End-of-turn markers of common chat templates. Qwen's GGUF already marks
# <|im_end|> as end-of-generation, but we don't rely on every GGUF doing so.
END_OF_TURN = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "</s>")

_STAND_IN = re.compile("(\ue000\\d+\ue001)")


class ChatTemplate:
    """Render, defuse and tokenize messages with the template and vocabulary of ``llm``
    (a ``llama_cpp.Llama``; one loaded with ``vocab_only`` is enough)."""

    def __init__(self, llm, model_path: Path):
        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ModelError(f"{model_path} is not a chat model (no chat template); use an instruct GGUF")
        self.llm = llm
        self.template = template
        eos, self.bos = llm.token_eos(), llm.token_bos()
        self.eos_text = llama.token_text(llm, eos) if eos != -1 else ""
        self._formatter = llama.chat_formatter(
            template, eos_token=self.eos_text, bos_token=llama.token_text(llm, self.bos) if self.bos != -1 else ""
        )
        self._special_texts: list[str] | None = None  # the vocabulary's special-token strings, when needed

    # ------------------------------------------------------------ rendering

    def render(self, messages: list[dict]) -> str:
        return self._formatter(messages=messages).prompt

    def render_defused(self, messages: list[dict]) -> str:
        """The template's markers, the messages' contents defused."""
        return self.render([{**m, "content": self.defuse(str(m["content"]))} for m in messages])

    @property
    def special_texts(self) -> list[str]:
        """The strings of the vocabulary's control tokens (<|im_start|>, ...), longest first."""
        if self._special_texts is None:
            texts = llama.special_texts(self.llm)
            self._special_texts = sorted((t for t in texts if len(t) > 1), key=len, reverse=True)
        return self._special_texts

    def defuse(self, text: str) -> str:
        """Marker text inside a message (a document can hold "<|im_start|>system") broken up
        by a word joiner, so that a tokenizer with special tokens on never turns it into a
        real marker. Text without markers is unchanged."""
        for marker in self.special_texts:
            if marker in text:
                text = text.replace(marker, marker[0] + "\u2060" + marker[1:])
        return text

    # ----------------------------------------------------------- tokenizing

    def tokenize(self, text: str) -> list[int]:
        """Text with special tokens on: marker text becomes the marker."""
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def with_bos(self, tokens: list[int]) -> list[int]:
        # add BOS the way llama.cpp would, unless the template already wrote it
        if llama.adds_bos(self.llm) and self.bos != -1 and tokens[:1] != [self.bos]:
            tokens.insert(0, self.bos)
        return tokens

    def tokens(self, messages: list[dict]) -> list[int]:
        """The prompt's tokens as llama.cpp in-process evaluates them. Only the template's own
        markers may become special tokens (see scaffolded_tokens); a template that drops,
        repeats or reorders contents gets the whole rendering instead, with the vocabulary's
        special-token strings broken up inside the contents by a word joiner."""
        tokens = self.scaffolded_tokens(messages)
        return self.defused_tokens(messages) if tokens is None else self.with_bos(tokens)

    def defused_tokens(self, messages: list[dict]) -> list[int]:
        """The tokens of the defused rendering, as a server that tokenizes it makes them."""
        return self.with_bos(self.tokenize(self.render_defused(messages)))

    def scaffolded_tokens(self, messages: list[dict]) -> list[int] | None:
        """The template's own markers as special tokens, each content as plain text; None
        for a template that drops, repeats or reorders contents (no BOS added here).

        Only the chat template's own markers may become special tokens. The contents
        (passages, the question, earlier answers) can hold the text "<|im_start|>system":
        tokenized with special=True it would become the real marker and open a turn the
        document wrote. So the template is rendered with a stand-in for each content,
        the scaffolding around the stand-ins is tokenized with special=True (markers ->
        special tokens) and each content with special=False (marker text -> plain text).
        Every boundary in the default (ChatML) template is a newline or a special token,
        so for contents without marker text the tokens are exactly those of the whole
        rendering."""
        holders = [f"\ue000{i}\ue001" for i in range(len(messages))]  # private-use: survive any template
        rendered = self.render([{**m, "content": h} for m, h in zip(messages, holders)])
        pieces = _STAND_IN.split(rendered)
        if pieces[1::2] != holders:
            return None
        tokens: list[int] = []
        for i, piece in enumerate(pieces):
            if i % 2:
                text, special = str(messages[i // 2]["content"]), False
            else:
                text, special = piece, True
            if text:
                tokens += self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=special)
        return tokens

    # --------------------------------------------------------- end of turn

    def end_of_turn_ids(self) -> set[int]:
        """EOS plus the template's end-of-turn markers that are single special tokens."""
        ids = {self.llm.token_eos()} - {-1}
        for marker in END_OF_TURN:
            if marker in self.template:
                toks = self.tokenize(marker)
                if len(toks) == 1:
                    ids.add(toks[0])
        return ids

    def end_of_turn_texts(self) -> list[str]:
        """The template's end-of-turn markers and the EOS token, as text."""
        stops = [m for m in END_OF_TURN if m in self.template]
        if self.eos_text and self.eos_text not in stops:
            stops.append(self.eos_text)
        return stops
