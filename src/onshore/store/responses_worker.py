"""What the SQLite and PostgreSQL stores of kept Responses turns share: the async `ResponseStore`
methods, each one call of the store's blocking method on its own worker thread."""

from __future__ import annotations

import abc

from onshore.worker import Worker


class WorkerResponses(abc.ABC):
    worker: Worker

    async def put(
        self, response_id: str, tenant: str, owner: str, created_at: float, expires_at: float, sealed: bytes
    ) -> None:
        await self.worker.run(self._put, (response_id, tenant, owner, created_at, expires_at, sealed))

    async def get(self, response_id: str, tenant: str, owner: str, now: float) -> tuple[bytes, float] | None:
        return await self.worker.run(self._get, response_id, tenant, owner, now)

    async def delete(self, response_id: str, tenant: str, owner: str, now: float) -> bool:
        return await self.worker.run(self._delete, response_id, tenant, owner, now)

    async def purge(self, now: float) -> int:
        return await self.worker.run(self._purge, now)

    async def aclose(self) -> None:
        await self.worker.aclose()
        self.close()

    def close(self) -> None:
        self.worker.close()
        self._close_connection()

    @abc.abstractmethod
    def _put(self, row: tuple[str, str, str, float, float, bytes]) -> None: ...

    @abc.abstractmethod
    def _get(self, response_id: str, tenant: str, owner: str, now: float) -> tuple[bytes, float] | None: ...

    @abc.abstractmethod
    def _delete(self, response_id: str, tenant: str, owner: str, now: float) -> bool: ...

    @abc.abstractmethod
    def _purge(self, now: float) -> int: ...

    @abc.abstractmethod
    def _close_connection(self) -> None: ...
