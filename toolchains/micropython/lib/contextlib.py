"""`contextlib` for the MicroPython runtime: contextmanager, suppress, nullcontext, closing,
ExitStack (enter_context, push, callback, pop_all, close).

Left out: the async variants, redirect_stdout/stderr, chdir, ContextDecorator (a
`@contextmanager` function is not usable as a decorator here), ExitStack's exception chaining
(MicroPython has no `__context__`).
"""

__all__ = ["contextmanager", "suppress", "nullcontext", "closing", "ExitStack"]


class _GeneratorContextManager:
    def __init__(self, func, args, kwargs):
        self.gen = func(*args, **kwargs)

    def __enter__(self):
        try:
            return next(self.gen)
        except StopIteration:
            raise RuntimeError("generator didn't yield")

    def __exit__(self, typ, value, traceback):
        if typ is None:
            try:
                next(self.gen)
            except StopIteration:
                return False
            raise RuntimeError("generator didn't stop")
        if value is None:
            value = typ()
        try:
            self.gen.throw(value)
        except StopIteration as stop:
            return stop is not value
        except BaseException as raised:
            if raised is value:
                return False
            raise
        raise RuntimeError("generator didn't stop after throw()")


def contextmanager(func):
    """@contextmanager turns a generator that yields once into a context manager factory."""
    def helper(*args, **kwargs):
        return _GeneratorContextManager(func, args, kwargs)
    return helper


class suppress:
    """with suppress(KeyError): ... ignores those exceptions."""

    def __init__(self, *exceptions):
        self._exceptions = exceptions

    def __enter__(self):
        pass

    def __exit__(self, typ, value, traceback):
        return typ is not None and issubclass(typ, self._exceptions)


class nullcontext:
    """A context manager that does nothing; `with nullcontext(x) as y` gives y = x."""

    def __init__(self, enter_result=None):
        self.enter_result = enter_result

    def __enter__(self):
        return self.enter_result

    def __exit__(self, *exc):
        pass


class closing:
    """with closing(thing) as t: ... calls thing.close() at the end."""

    def __init__(self, thing):
        self.thing = thing

    def __enter__(self):
        return self.thing

    def __exit__(self, *exc):
        self.thing.close()


class ExitStack:
    """Exit callbacks run last-in first-out when the with block ends (or on close())."""

    def __init__(self):
        self._exits = []

    def __enter__(self):
        return self

    def enter_context(self, cm):
        result = cm.__enter__()
        self._exits.append(cm.__exit__)
        return result

    def push(self, exit):
        """Register an __exit__-like callable (or an object with __exit__); returns it."""
        self._exits.append(getattr(exit, "__exit__", exit))
        return exit

    def callback(self, callback, *args, **kwargs):
        """Register callback(*args, **kwargs) to run at exit; returns callback."""
        def _exit(typ, value, traceback):
            callback(*args, **kwargs)
        self._exits.append(_exit)
        return callback

    def pop_all(self):
        """Move the callbacks to a new ExitStack (this one then exits with nothing to do)."""
        stack = ExitStack()
        stack._exits, self._exits = self._exits, []
        return stack

    def close(self):
        self.__exit__(None, None, None)

    def __exit__(self, typ, value, traceback):
        suppressed = False
        pending = value if typ is not None else None
        while self._exits:
            exit = self._exits.pop()
            try:
                args = (None, None, None) if pending is None else (type(pending), pending, None)
                if exit(*args):
                    suppressed = True
                    pending = None
            except BaseException as raised:
                pending = raised
                suppressed = False
        if pending is not None and pending is not value:
            raise pending
        return typ is not None and pending is None and suppressed
