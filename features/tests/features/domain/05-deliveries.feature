Feature: Deliveries of several products, all or nothing

  Background:
    Given the retail estate

  @domain-5
  Scenario: Each line becomes a delivery at its own pot
    When "WH01" receives a delivery at "2024-12-07T08:00:00" of:
      | product | quantity |
      | p1      | 10       |
      | p2      | 2.5      |
      | p3      | 1        |
    Then the stock of "p1" at "WH01" is 10.0, last updated "2024-12-07T08:00:00"
    And the stock of "p2" at "WH01" is 2.5, last updated "2024-12-07T08:00:00"
    And the stock of "p3" at "WH01" is 1.0, last updated "2024-12-07T08:00:00"

  @domain-5
  Scenario: Two lines of the same product are both applied
    When "WH01" receives a delivery at "2024-12-07T08:00:00" of:
      | product | quantity |
      | p1      | 10       |
      | p1      | 5        |
    Then the stock of "p1" at "WH01" is 15.0

  @domain-5 @domain-9
  Scenario: A delivery with one bad line records nothing, not even its good lines
    Given "WH01" received a delivery of 1 "p1" at "2024-12-07T07:00:00"
    When I send POST /locations/WH01/deliveries with:
      """
      {"requestId":"d1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"2024-12-07T08:00:00",
       "products":[{"productId":"p1","quantity":10},{"productId":"p2","quantity":5},{"productId":"p3","quantity":0}]}
      """
    Then the response is 400 with body {"status":"BadRequest"}
    And the stock of "p1" at "WH01" is 1.0, last updated "2024-12-07T07:00:00"
    And the stock of "p2" at "WH01" has never been updated
    And the stock of "p3" at "WH01" has never been updated

  @domain-5 @domain-8
  Scenario: A refused delivery leaves no trace: its request id can be used again
    When I send POST /locations/WH01/deliveries with:
      """
      {"requestId":"d1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"2024-12-07T08:00:00","products":[{"productId":"p1","quantity":10},{"productId":"p2","quantity":-1}]}
      """
    Then the response status is 400
    When I send POST /locations/WH01/deliveries with:
      """
      {"requestId":"d1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"2024-12-07T08:00:00","products":[{"productId":"p1","quantity":10},{"productId":"p2","quantity":1}]}
      """
    Then the response status is 201
    And the stock of "p1" at "WH01" is 10.0
    And the stock of "p2" at "WH01" is 1.0

  @domain-5 @domain-8
  Scenario: A delivery is replayed as a whole
    When I send POST /locations/WH01/deliveries with:
      """
      {"requestId":"d1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"2024-12-07T08:00:00","products":[{"productId":"p1","quantity":10},{"productId":"p2","quantity":3}]}
      """
    And I send the same request again
    Then the response is 201, byte for byte the first answer
    And the stock of "p1" at "WH01" is 10.0
    And the stock of "p2" at "WH01" is 3.0

  @domain-5 @domain-8
  Scenario: The line ids derived from a delivery take no part in idempotency
    When I send POST /locations/Store-001/deliveries with:
      """
      {"requestId":"d1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"2024-12-07T08:00:00","products":[{"productId":"p1","quantity":10},{"productId":"p2","quantity":3}]}
      """
    Then the response status is 201
    When I send POST /locations/Store-001/products/p1/sales with:
      """
      {"requestId":"d1-0","quantity":1,"soldAt":"2024-12-07T09:00:00"}
      """
    Then the response status is 201
    When I send POST /locations/Store-001/deliveries with:
      """
      {"requestId":"d1-1","supplierId":"s1","supplierRef":"po-2","deliveredAt":"2024-12-07T10:00:00","products":[{"productId":"p2","quantity":4}]}
      """
    Then the response status is 201
    And the stock of "p1" at "Store-001" is 9.0
    And the stock of "p2" at "Store-001" is 7.0

  @domain-5 @domain-8
  Scenario: An empty delivery changes no stock but is recorded for idempotency
    When I send POST /locations/WH01/deliveries with:
      """
      {"requestId":"d1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"2024-12-07T08:00:00","products":[]}
      """
    Then the response status is 201
    When I send the same request again
    Then the response is 201, byte for byte the first answer
    When I send POST /locations/WH01/deliveries with:
      """
      {"requestId":"d1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"2024-12-07T08:00:00","products":[{"productId":"p1","quantity":1}]}
      """
    Then the response is 409 with body {"status":"IdempotencyContentMismatch"}
    And the stock of "p1" at "WH01" has never been updated

  @domain-5 @api-9
  Scenario: A delivery at an untracked location records nothing
    When I send POST /locations/warehouse1-untracked/deliveries with:
      """
      {"requestId":"d1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"2024-12-07T08:00:00","products":[{"productId":"p1","quantity":10}]}
      """
    Then the response status is 303
    And the stock of "p1" at "WH01" has never been updated
    And the total of "p1" at "UK" is 0.0
