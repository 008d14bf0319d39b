Feature: Idempotency: one request id identifies one client request at one location

  Background:
    Given the retail estate
    And "WH01" received a delivery of 100 "p1" at "2024-12-07T08:00:00"

  @domain-8
  Scenario Outline: Replaying a write answers the original success byte for byte and changes nothing: <path>
    When I send POST <path> with:
      """
      <body>
      """
    Then the response status is 201
    When I send the same request again
    Then the response is 201, byte for byte the first answer
    And the stock of "p1" at "<location>" is <quantity>

    Examples:
      | path                                     | body                                                                                                                    | location  | quantity |
      | /locations/Store-001/products/p1/sales   | {"requestId":"r1","quantity":2,"soldAt":"2024-12-07T12:00:00"}                                                          | Store-001 | 0.0      |
      | /locations/WH01/deliveries               | {"requestId":"d1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"2024-12-07T09:00:00","products":[{"productId":"p1","quantity":5}]} | WH01 | 105.0 |
      | /locations/WH01/p1/movements             | {"requestId":"m1","destinationLocationId":"WH02","quantity":40,"reason":"replenishment","movedAt":"2024-12-07T09:00:00"} | WH01      | 60.0     |
      | /locations/WH01/products/p1/counts       | {"requestId":"c1","reason":"AdminOverride","quantity":7,"countedAt":"2024-12-07T09:00:00"}                              | WH01      | 7.0      |

  @domain-8
  Scenario Outline: Equal content in another spelling is the same request: <quantity> <soldAt>
    When I send POST /locations/Store-001/products/p1/sales with:
      """
      {"requestId":"r1","quantity":5,"soldAt":"2024-12-07T10:00:00Z"}
      """
    Then the response status is 201
    When I send POST /locations/Store-001/products/p1/sales with:
      """
      {"requestId":"r1","quantity":<quantity>,"soldAt":"<soldAt>"}
      """
    Then the response is 201, byte for byte the first answer
    And the stock of "p1" at "Store-001" is 0.0, pending -5.0, last updated "2024-12-07T10:00:00"

    Examples:
      | quantity | soldAt                        |
      | 5        | 2024-12-07T10:00:00Z          |
      | 5.0      | 2024-12-07T10:00:00+01:00     |
      | "5"      | 2024-12-07T10:00              |
      | 5e0      | 2024-12-07T10:00:00.000       |

  @domain-8
  Scenario: A move's reason in another case is the same request
    When I send POST /locations/WH01/p1/movements with:
      """
      {"requestId":"m1","destinationLocationId":"WH02","quantity":1,"reason":"replenishment","movedAt":"2024-12-07T09:00:00"}
      """
    And I send POST /locations/WH01/p1/movements once the move has landed, with:
      """
      {"requestId":"m1","destinationLocationId":"WH02","quantity":1,"reason":"Replenishment","movedAt":"2024-12-07T09:00:00"}
      """
    Then the response is 201, byte for byte the first answer
    And the stock of "p1" at "WH01" is 99.0

  @domain-8
  Scenario Outline: Reusing a sale's request id with other content is a mismatch: <changed>
    When I send POST /locations/Store-001/products/p1/sales with:
      """
      {"requestId":"r1","quantity":5,"soldAt":"2024-12-07T10:00:00"}
      """
    Then the response status is 201
    When I send POST <path> with:
      """
      <body>
      """
    Then the response is 409 with body {"status":"IdempotencyContentMismatch"}
    And the stock of "p1" at "Store-001" is 0.0, pending -5.0, last updated "2024-12-07T10:00:00"
    And the stock of "p2" at "Store-001" has never been updated

    Examples:
      | changed   | path                                       | body                                                                                                  |
      | product   | /locations/Store-001/products/p2/sales     | {"requestId":"r1","quantity":5,"soldAt":"2024-12-07T10:00:00"}                                        |
      | quantity  | /locations/Store-001/products/p1/sales     | {"requestId":"r1","quantity":6,"soldAt":"2024-12-07T10:00:00"}                                        |
      | soldAt    | /locations/Store-001/products/p1/sales     | {"requestId":"r1","quantity":5,"soldAt":"2024-12-07T10:00:00.001"}                                    |
      | operation | /locations/Store-001/products/p1/counts    | {"requestId":"r1","reason":"AdminOverride","quantity":5,"countedAt":"2024-12-07T10:00:00"}            |
      | operation | /locations/Store-001/deliveries            | {"requestId":"r1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"2024-12-07T10:00:00","products":[{"productId":"p1","quantity":5}]} |
      | operation | /locations/Store-001/p1/movements          | {"requestId":"r1","destinationLocationId":"WH02","quantity":0,"reason":"replenishment","movedAt":"2024-12-07T10:00:00"} |

  @domain-8
  Scenario Outline: Reusing a count's request id with other content is a mismatch: <changed>
    When I send POST /locations/WH01/products/p1/counts with:
      """
      {"requestId":"c1","reason":"AdminOverride","quantity":50,"countedAt":"2024-12-07T10:00:00"}
      """
    Then the response status is 201
    When I send POST /locations/WH01/products/<product>/counts with:
      """
      {"requestId":"c1","reason":"AdminOverride","quantity":<quantity>,"countedAt":"<countedAt>"}
      """
    Then the response is 409 with body {"status":"IdempotencyContentMismatch"}
    And the stock of "p1" at "WH01" is 50.0, last updated "2024-12-07T10:00:00"

    Examples:
      | changed   | product | quantity | countedAt           |
      | product   | p2      | 50       | 2024-12-07T10:00:00 |
      | quantity  | p1      | 51       | 2024-12-07T10:00:00 |
      | countedAt | p1      | 50       | 2024-12-07T10:00:01 |

  @domain-8
  Scenario Outline: Reusing a delivery's request id with other content is a mismatch: <changed>
    When I send POST /locations/WH01/deliveries with:
      """
      {"requestId":"d1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"2024-12-07T09:00:00","products":[{"productId":"p1","quantity":5},{"productId":"p2","quantity":3}]}
      """
    Then the response status is 201
    When I send POST /locations/WH01/deliveries with:
      """
      <body>
      """
    Then the response is 409 with body {"status":"IdempotencyContentMismatch"}
    And the stock of "p1" at "WH01" is 105.0
    And the stock of "p2" at "WH01" is 3.0
    And the stock of "p3" at "WH01" has never been updated

    Examples:
      | changed       | body                                                                                                                                                                      |
      | supplierId    | {"requestId":"d1","supplierId":"s2","supplierRef":"po-1","deliveredAt":"2024-12-07T09:00:00","products":[{"productId":"p1","quantity":5},{"productId":"p2","quantity":3}]} |
      | supplierRef   | {"requestId":"d1","supplierId":"s1","supplierRef":"po-2","deliveredAt":"2024-12-07T09:00:00","products":[{"productId":"p1","quantity":5},{"productId":"p2","quantity":3}]} |
      | deliveredAt   | {"requestId":"d1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"2024-12-07T09:00:01","products":[{"productId":"p1","quantity":5},{"productId":"p2","quantity":3}]} |
      | line order    | {"requestId":"d1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"2024-12-07T09:00:00","products":[{"productId":"p2","quantity":3},{"productId":"p1","quantity":5}]} |
      | line product  | {"requestId":"d1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"2024-12-07T09:00:00","products":[{"productId":"p1","quantity":5},{"productId":"p3","quantity":3}]} |
      | line quantity | {"requestId":"d1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"2024-12-07T09:00:00","products":[{"productId":"p1","quantity":5},{"productId":"p2","quantity":4}]} |
      | extra line    | {"requestId":"d1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"2024-12-07T09:00:00","products":[{"productId":"p1","quantity":5},{"productId":"p2","quantity":3},{"productId":"p3","quantity":1}]} |
      | missing line  | {"requestId":"d1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"2024-12-07T09:00:00","products":[{"productId":"p1","quantity":5}]} |
      | no lines      | {"requestId":"d1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"2024-12-07T09:00:00","products":[]} |

  @domain-8
  Scenario Outline: Reusing a move's request id with other content is a mismatch: <changed>
    When I send POST /locations/WH01/p1/movements with:
      """
      {"requestId":"m1","destinationLocationId":"WH02","quantity":10,"reason":"replenishment","movedAt":"2024-12-07T09:00:00"}
      """
    Then the response status is 201
    When I send POST /locations/WH01/<product>/movements with:
      """
      {"requestId":"m1","destinationLocationId":"<destination>","quantity":<quantity>,"reason":"replenishment","movedAt":"<movedAt>"}
      """
    Then the response is 409 with body {"status":"IdempotencyContentMismatch"}
    And the stock of "p1" at "WH01" is 90.0
    And the stock of "p1" at "WH02" is 10.0
    And the stock of "p1" at "store3" has never been updated

    Examples:
      | changed     | product | destination | quantity | movedAt             |
      | product     | p2      | WH02        | 10       | 2024-12-07T09:00:00 |
      | destination | p1      | store3      | 10       | 2024-12-07T09:00:00 |
      | quantity    | p1      | WH02        | 10.5     | 2024-12-07T09:00:00 |
      | movedAt     | p1      | WH02        | 10       | 2024-12-07T09:30:00 |

  @domain-8
  Scenario: The same request id at another location is another request
    When I send POST /locations/Store-001/products/p1/sales with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T10:00:00"}
      """
    Then the response status is 201
    When I send POST /locations/store3/products/p1/sales with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T10:00:00"}
      """
    Then the response is 201 with body {"requestId":"r1","locationId":"store3","productId":"p1","quantitySold":1.0,"soldAt":"2024-12-07T10:00:00"}
    When I send POST /locations/Cambridge/products/p9/counts with:
      """
      {"requestId":"r1","reason":"AdminOverride","quantity":2,"countedAt":"2024-12-07T10:00:00"}
      """
    Then the response status is 201
    And the stock of "p1" at "Store-001" is 0.0, pending -1.0, last updated "2024-12-07T10:00:00"
    And the stock of "p1" at "store3" is 0.0, pending -1.0, last updated "2024-12-07T10:00:00"

  @domain-8
  Scenario: An empty request id is a client id like any other
    When I send POST /locations/Store-001/products/p1/sales with:
      """
      {"requestId":"","quantity":1,"soldAt":"2024-12-07T10:00:00"}
      """
    Then the response is 201 with body {"requestId":"","locationId":"Store-001","productId":"p1","quantitySold":1.0,"soldAt":"2024-12-07T10:00:00"}
    When I send the same request again
    Then the response is 201, byte for byte the first answer
    And the stock of "p1" at "Store-001" is 0.0, pending -1.0, last updated "2024-12-07T10:00:00"

  @domain-8 @domain-4
  Scenario: A replay passes the location checks again
    Given "Central Store" received a delivery of 1 "p1" at "2024-12-07T08:00:00"
    When I send POST /locations/Central%20Store/products/p1/sales with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T10:00:00"}
      """
    Then the response status is 201
    When "Central Store" stops being a tracked location
    And I send the same request again
    Then the response is 400 with body {"status":"LocationNotTracked"}

  @domain-8 @api-11
  Scenario: A new write is a miss, a replay a hit, a mismatch neither
    Given I note the idempotency counters
    When I send POST /locations/Store-001/products/p1/sales with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T10:00:00"}
      """
    Then the idempotency counters rose by 0 hits and 1 miss
    When I send the same request again
    Then the idempotency counters rose by 1 hit and 1 miss
    When I send POST /locations/Store-001/products/p1/sales with:
      """
      {"requestId":"r1","quantity":2,"soldAt":"2024-12-07T10:00:00"}
      """
    Then the response status is 409
    And the idempotency counters rose by 1 hit and 1 miss

  @domain-8 @api-11
  Scenario: A delivery counts once whatever its number of lines
    Given I note the idempotency counters
    When I send POST /locations/WH01/deliveries with:
      """
      {"requestId":"d1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"2024-12-07T09:00:00","products":[{"productId":"p1","quantity":5},{"productId":"p2","quantity":3},{"productId":"p3","quantity":1}]}
      """
    Then the idempotency counters rose by 0 hits and 1 miss
    When I send the same request again
    Then the idempotency counters rose by 1 hit and 1 miss

  @domain-8 @api-11
  Scenario: A move counts once, at its source, even when refused for insufficient stock
    Given I note the idempotency counters
    When I send POST /locations/WH01/p1/movements with:
      """
      {"requestId":"m1","destinationLocationId":"WH02","quantity":10,"reason":"replenishment","movedAt":"2024-12-07T09:00:00"}
      """
    Then the response status is 201
    And the idempotency counters rose by 0 hits and 1 miss
    When I send POST /locations/WH01/p1/movements with:
      """
      {"requestId":"m2","destinationLocationId":"WH02","quantity":1000,"reason":"replenishment","movedAt":"2024-12-07T09:00:00"}
      """
    Then the response is 400 with body {"status":"InsufficientStock"}
    And the idempotency counters rose by 0 hits and 2 misses

  @domain-8 @api-11
  Scenario: Requests that never reach a pot are not counted
    Given I note the idempotency counters
    When I send POST /locations/Till%201/products/p1/sales with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T10:00:00"}
      """
    Then the response status is 303
    When I send POST /locations/Atlantis/products/p1/sales with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T10:00:00"}
      """
    Then the response status is 404
    When I send POST /locations/WH01/deliveries with:
      """
      {"requestId":"d1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"2024-12-07T09:00:00","products":[{"productId":"p1","quantity":0}]}
      """
    Then the response status is 400
    And the idempotency counters rose by 0 hits and 0 misses
