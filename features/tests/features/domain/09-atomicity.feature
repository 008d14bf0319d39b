Feature: Failures never leave a partial write

  Background:
    Given the retail estate
    And "WH01" received a delivery of 20 "p1" at "2024-12-07T08:00:00"

  @domain-9
  Scenario Outline: A refused write changes no pot: <status> <body>
    When I send POST <path> with:
      """
      <body>
      """
    Then the response status is <status>
    And the stock of "p1" at "WH01" is 20.0, last updated "2024-12-07T08:00:00"
    And the stock of "p1" at "store3" has never been updated
    And the stock of "p2" at "WH01" has never been updated

    Examples:
      | path                           | body                                                                                                                                                                      | status |
      | /locations/WH01/deliveries     | {"requestId":"d1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"2024-12-07T09:00:00","products":[{"productId":"p1","quantity":5},{"productId":"p2","quantity":-5}]} | 400    |
      | /locations/WH01/p1/movements   | {"requestId":"m1","destinationLocationId":"store3","quantity":21,"reason":"replenishment","movedAt":"2024-12-07T09:00:00"}                                              | 400    |
      | /locations/WH01/p1/movements   | {"requestId":"m1","destinationLocationId":"Nowhere","quantity":5,"reason":"replenishment","movedAt":"2024-12-07T09:00:00"}                                              | 404    |
      | /locations/WH01/p1/movements   | {"requestId":"m1","destinationLocationId":"Till 1","quantity":5,"reason":"replenishment","movedAt":"2024-12-07T09:00:00"}                                               | 400    |
      | /locations/WH01/p1/movements   | {"requestId":"m1","destinationLocationId":"store3","quantity":5,"reason":"replenishment","movedAt":"2024-12-07T09:00:00","by":"me"}                                     | 400    |
      | /locations/WH01/deliveries     | {"requestId":"d1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"2024-12-07T09:00:00","products":[{"productId":"p1","quantity":5},{"productId":"p2"}]}          | 400    |

  @domain-9 @domain-8
  Scenario: No write is applied twice
    When I send POST /locations/WH01/p1/movements with:
      """
      {"requestId":"m1","destinationLocationId":"store3","quantity":5,"reason":"replenishment","movedAt":"2024-12-07T09:00:00"}
      """
    And I send the same request again
    And I send the same request again
    Then the response is 201, byte for byte the first answer
    And the stock of "p1" at "WH01" is 15.0
    And the stock of "p1" at "store3" is 5.0
