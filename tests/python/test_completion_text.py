"""CompletionText: UTF-8 across token boundaries, stop strings, what may be streamed."""

import unittest

from llamux.completion_text import CompletionText


class CompletionTextTest(unittest.TestCase):
    def test_character_split_across_tokens_is_held_until_complete(self):
        t = CompletionText([])
        euro = "€".encode()  # three bytes
        t.push(b"a" + euro[:1])
        self.assertEqual(t.release(), "a")
        t.push(euro[1:2])
        self.assertEqual(t.release(), "")
        t.push(euro[2:] + b"b")
        self.assertEqual(t.release(), "€b")
        t.finish()
        self.assertEqual(t.text, "a€b")

    def test_bytes_that_never_form_a_character_become_replacement_characters(self):
        t = CompletionText([])
        t.push(b"\xff x")
        t.push("é".encode()[:1])
        t.finish()
        self.assertEqual(t.release(final=True), "\ufffd x\ufffd")

    def test_stop_string_across_pushes_cuts_the_text_before_it(self):
        t = CompletionText(["STOP"])
        released = ""
        for piece in [b"one ", b"two S", b"T", b"OP three"]:
            stopped = t.push(piece)
            released += t.release()
        self.assertTrue(stopped)
        self.assertEqual(t.text, "one two ")
        self.assertEqual(released, "one two ")

    def test_a_possible_stop_prefix_is_held_back_then_released(self):
        t = CompletionText(["\n\n", "Q:"])
        t.push(b"answer\n")
        self.assertEqual(t.release(), "answer")
        t.push(b"more Q")
        self.assertEqual(t.release(), "\nmore ")
        t.push(b"uiet")
        self.assertEqual(t.release(), "Quiet")
        self.assertFalse(t.stopped)

    def test_earliest_of_several_stops_wins(self):
        t = CompletionText(["c", "b"])
        self.assertTrue(t.push(b"xxabcd"))
        self.assertEqual(t.text, "xxa")

    def test_stop_inside_one_push_and_empty_stops_ignored(self):
        t = CompletionText(["", "end"])
        self.assertTrue(t.push(b"the end is near"))
        self.assertEqual(t.release(), "the ")
        self.assertEqual(t.release(final=True), "")

    def test_final_release_gives_the_held_back_text(self):
        t = CompletionText(["Q:"])
        t.push(b"text Q")
        self.assertEqual(t.release(), "text ")
        t.finish()
        self.assertEqual(t.release(final=True), "Q")


if __name__ == "__main__":
    unittest.main()
