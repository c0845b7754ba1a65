"""Worked answers to the exercises at the end of chapters 2–6, one module per chapter.

Each exercise is a function here. To check your own attempt, replace the body of a function with yours
and run, for example,

    pytest tests/test_exercises.py -k ch2

The tests never compare an answer with another answer: each computes the quantity its own way — with
the library's kernel, an exact enumeration, a linear solve or a closed form — and fails if yours is wrong.
"""
